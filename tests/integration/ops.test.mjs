// Running it for real: request ids on every response, one structured log
// line per request (and nothing secret in it), /healthz, and a deploy that
// is checked offline (`wrangler deploy --dry-run`, no login).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { BASE_VARS, EXAMPLE, ORIGIN, STATE_VARS, TOKEN, startWorker, step } from "./harness.mjs";

const GEN = "/api/generate-prompt";
const BODY = { ...EXAMPLE, aimodel: undefined };
const FRESH = /^[0-9a-f]{32}$/;

/** `GET /healthz` as the admin asks it: the whole report. */
async function health(w) {
  const resp = await w.fetch("/healthz", { headers: { Authorization: `Bearer ${BASE_VARS.ADMIN_TOKEN}` } });
  assert.equal(resp.status, 200);
  return resp.json();
}

/** The `request` log lines written so far, parsed. */
function requestLines(w) {
  return w.logs
    .join("")
    .split("\n")
    .filter((l) => l.includes('"event":"request"'))
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))));
}

/** The `request` log line of the request with id `id`. */
function lineOf(w, id) {
  const line = requestLines(w).find((l) => l.request_id === id);
  assert.ok(line, `no request line for ${id} in:\n${w.logs.join("")}`);
  return line;
}

describe("request ids", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());

  test("a sane id the caller sent comes back, on answers, errors and preflights alike", async () => {
    const id = "frontend-42 req/7:x~";
    const answers = [
      await w.post(GEN, BODY, { "X-Request-Id": id }),
      await w.post(GEN, "{nope", { "X-Request-Id": id }),
      await w.post(GEN, BODY, { "X-Request-Id": id, Authorization: "" }),
      await w.fetch("/nowhere", { headers: { "X-Request-Id": id } }),
      await w.fetch(GEN, { method: "OPTIONS", headers: { "X-Request-Id": id, Origin: ORIGIN } }),
      await w.fetch("/healthz", { headers: { "X-Request-Id": id } }),
    ];
    for (const resp of answers) {
      await resp.arrayBuffer();
      assert.equal(resp.headers.get("x-request-id"), id, `${resp.status}`);
    }
  });

  test("a missing, too long or non-printable id is replaced by a fresh one", async () => {
    const seen = new Set();
    for (const sent of [undefined, "x".repeat(129), "tab\there", "caf\u00e9"]) {
      const headers = sent === undefined ? {} : { "X-Request-Id": sent };
      const resp = await w.post(GEN, "{nope", headers);
      await resp.arrayBuffer();
      const id = resp.headers.get("x-request-id");
      assert.match(id, FRESH, `sent ${JSON.stringify(sent)}`);
      seen.add(id);
    }
    assert.equal(seen.size, 4, "each request gets its own id");
    const longest = "y".repeat(128);
    const resp = await w.post(GEN, "{nope", { "X-Request-Id": longest });
    await resp.arrayBuffer();
    assert.equal(resp.headers.get("x-request-id"), longest, "128 characters are kept");
  });

  test("CORS lets the page read it, and send its own", async () => {
    const resp = await w.post(GEN, BODY, { Origin: ORIGIN });
    await resp.arrayBuffer();
    assert.match(resp.headers.get("access-control-expose-headers"), /X-Request-Id/);
    const pre = await w.fetch(GEN, { method: "OPTIONS", headers: { Origin: ORIGIN, "Access-Control-Request-Headers": "x-request-id" } });
    await pre.arrayBuffer();
    assert.match(pre.headers.get("access-control-allow-headers"), /X-Request-Id/);
  });
});

describe("one log line per request", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());

  test("an answered request: id, route, status, caller, models, fallback, failures, timings, tokens", async () => {
    const DEFAULT = "@cf/meta/llama-3.1-8b-instruct-fast";
    const BACKUP = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
    w.sim.script(DEFAULT, step.error("5007: No such model SECRET-UPSTREAM-BODY"));
    w.sim.script(BACKUP, step.answer('{"action":"say","content":"Thanks for the 50 tokens!"}', { usage: { prompt_tokens: 321, completion_tokens: 9 } }));
    const chat = { ...BODY, context: [{ text: "User123: my secret chat line", type: "chat" }], broadcaster: "Luna" };
    const resp = await w.post(GEN, chat, { "X-Request-Id": "log-1" });
    await resp.arrayBuffer();
    assert.equal(resp.status, 200);
    const line = lineOf(w, "log-1");
    assert.equal(line.route, GEN);
    assert.equal(line.method, "POST");
    assert.equal(line.status, 200);
    assert.equal(line.error, null);
    assert.match(line.caller, /^static-1 \([0-9a-f]{12}\)$/);
    assert.equal(line.model_requested, DEFAULT);
    assert.equal(line.model, BACKUP);
    assert.equal(line.fallback, true);
    assert.deepEqual(line.model_failures.map((f) => [f.model, f.code]), [[DEFAULT, 5007]]);
    assert.equal(typeof line.ms, "number");
    assert.equal(typeof line.model_ms, "number");
    assert.ok(line.model_ms <= line.ms, JSON.stringify(line));
    assert.equal(line.prompt_tokens, 321);
    assert.equal(line.completion_tokens, 9);
    const request = requestLines(w).filter((l) => l.request_id === "log-1");
    assert.equal(request.length, 1, "exactly one request line");
    const raw = JSON.stringify(line);
    for (const secret of [TOKEN, "my secret chat line", "SECRET-UPSTREAM-BODY"]) {
      assert.ok(!raw.includes(secret), `${secret} is in the request line`);
    }
  });

  test("a refused request: its error code, and nothing of what it sent", async () => {
    const resp = await w.post(GEN, BODY, { "X-Request-Id": "log-2", Authorization: "Bearer wrong-token-SECRET" });
    await resp.arrayBuffer();
    const line = lineOf(w, "log-2");
    assert.equal(line.status, 401);
    assert.equal(line.error, "unauthorized");
    assert.equal(line.caller, null);
    assert.ok(!w.logs.join("").includes("wrong-token-SECRET"));
  });

  test("the route is a template, never the caller's path", async () => {
    const resp = await w.fetch("/admin/tokens/abcdef0123456789", { method: "DELETE", headers: { "X-Request-Id": "log-3" } });
    await resp.arrayBuffer();
    assert.equal(lineOf(w, "log-3").route, "/admin/tokens/{id}");
    const odd = await w.fetch("/some/odd/path-with-SECRET", { headers: { "X-Request-Id": "log-4" } });
    await odd.arrayBuffer();
    assert.equal(lineOf(w, "log-4").route, "unmatched");
    assert.ok(!w.logs.join("").includes("path-with-SECRET"));
  });

  test("wrangler.toml turns on Workers Logs", async () => {
    const { readFileSync } = await import("node:fs");
    const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
    assert.match(toml, /^\[observability\]\s*\nenabled = true/m);
  });
});

describe("KV operations per request", () => {
  test("an allowed request: at most one read and one write; a rejected one: no write", async () => {
    const w = await startWorker({ kvProbe: true });
    try {
      const issue = async (body) =>
        (
          await w.fetch("/admin/tokens", {
            method: "POST",
            headers: { Authorization: "Bearer admin-token-0123456789abcdef", "Content-Type": "application/json" },
            body: JSON.stringify(body),
          })
        ).json();
      const limited = await issue({ name: "Limited", per_minute: 1 });
      const ops = async (headers) => {
        w.probe.ops.length = 0;
        const resp = await w.post(GEN, BODY, headers);
        await resp.arrayBuffer();
        await new Promise((r) => setTimeout(r, 50)); // a write may follow the response
        return { status: resp.status, reads: w.probe.count("get") + w.probe.count("list"), writes: w.probe.count("put") };
      };
      const allowed = await ops({});
      assert.equal(allowed.status, 200);
      assert.ok(allowed.reads <= 1 && allowed.writes <= 1, JSON.stringify(allowed));
      assert.equal((await ops({ Authorization: "Bearer not-a-token" })).writes, 0);
      assert.equal((await ops({ Authorization: `Bearer ck_${"0".repeat(64)}` })).writes, 0);
      const first = await ops({ Authorization: `Bearer ${limited.token}` });
      assert.equal(first.status, 200);
      assert.equal(first.reads, 2, "an issued token's first request reads its record and its counter");
      const over = await ops({ Authorization: `Bearer ${limited.token}` });
      assert.equal(over.status, 429);
      assert.equal(over.writes, 0, JSON.stringify(w.probe.ops));
      assert.equal(over.reads, 1, "then the isolate remembers the record: only the counter is read");
      const busy = await issue({ name: "Busy" });
      await ops({ Authorization: `Bearer ${busy.token}` });
      const warm = await ops({ Authorization: `Bearer ${busy.token}` });
      assert.deepEqual([warm.status, warm.reads, warm.writes], [200, 1, 1], "an allowed request: one read, one write");
    } finally {
      await w.dispose();
    }
  });
});

describe("GET /healthz", () => {
  test("without credentials, only whether it serves; with the admin token, the bindings present; nothing secret", async () => {
    const w = await startWorker();
    try {
      const quiet = await w.fetch("/healthz");
      assert.equal(quiet.status, 200);
      assert.deepEqual(await quiet.json(), { ok: true });
      const wrong = await w.fetch("/healthz", { headers: { Authorization: `Bearer ${TOKEN}` } });
      assert.equal(wrong.status, 401, "a caller's token is not the admin's");
      assert.equal(wrong.headers.get("www-authenticate"), "Bearer");
      const resp = await w.fetch("/healthz", { headers: { Authorization: `Bearer ${BASE_VARS.ADMIN_TOKEN}` } });
      const body = await resp.json();
      assert.equal(resp.status, 200);
      assert.equal(body.ok, true);
      assert.match(body.version, /^\d+\.\d+\.\d+/);
      assert.deepEqual(body.bindings, {
        ai: true,
        kv: true,
        caller_state: true,
        auth_failure_limiter: true,
        caller_minute_limiter: false,
        session_key_limiter: false,
      });
      assert.deepEqual(body.problems, []);
      const text = JSON.stringify(body);
      for (const secret of [TOKEN, "admin-token-0123456789abcdef"]) assert.ok(!text.includes(secret));
    } finally {
      await w.dispose();
    }
  });

  test("a deployment without AI, with a model the catalog does not know and no failure limiter", async () => {
    const w = await startWorker({
      ai: false,
      vars: { FALLBACK_MODELS: "@cf/nobody/nothing" },
      ratelimits: { AUTH_FAILURE_LIMITER: null, CALLER_MINUTE_LIMITER: { simple: { limit: 5, period: 60 } } },
    });
    try {
      assert.deepEqual(await (await w.fetch("/healthz")).json(), { ok: false }, "anyone learns that it cannot serve, not why");
      const body = await health(w);
      assert.equal(body.bindings.ai, false);
      assert.equal(body.bindings.caller_minute_limiter, true);
      assert.equal(body.bindings.auth_failure_limiter, false);
      assert.equal(body.ok, false);
      const problems = body.problems.join("\n");
      assert.match(problems, /@cf\/nobody\/nothing/);
      assert.match(problems, /AUTH_FAILURE_LIMITER/);
    } finally {
      await w.dispose();
    }
  });

  test("an unusable var: ok false, the problem named, while the API answers 500", async () => {
    const w = await startWorker({ vars: { MODEL_RETRIES: "lots" } });
    try {
      const body = await health(w);
      assert.equal(body.ok, false);
      assert.match(body.problems.join("\n"), /MODEL_RETRIES/);
      assert.equal((await w.post(GEN, BODY)).status, 500);
    } finally {
      await w.dispose();
    }
  });
});

describe("GET /healthz when the main route cannot be served, and what still is", () => {
  const ADMIN = { Authorization: "Bearer admin-token-0123456789abcdef" };
  /** A POST as the coach frontend sends it: no Authorization header. */
  const asApp = (w, path, body) =>
    w.fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "CF-Connecting-IP": "203.0.113.9" }, body: JSON.stringify(body) });

  test("no CALLER_STATE binding while callers are counted in state objects: ok false, named; the admin routes still answer", async () => {
    const w = await startWorker({ state: false, vars: { ...STATE_VARS, DAILY_NEURON_BUDGET: "off" } });
    try {
      const body = await health(w);
      assert.equal(body.ok, false);
      assert.equal(body.bindings.caller_state, false);
      assert.match(body.problems.join("\n"), /RATE_LIMIT_STORE is do but there is no CALLER_STATE binding/);
      const refused = await w.post(GEN, BODY);
      assert.deepEqual([refused.status, (await refused.json()).code], [503, "storage_unavailable"], "STATE_FAILURE_MODE=closed");
      assert.equal((await w.fetch("/admin/tokens", { headers: ADMIN })).status, 200);
    } finally {
      await w.dispose();
    }
    const open = await startWorker({ state: false, vars: { ...STATE_VARS, DAILY_NEURON_BUDGET: "off", STATE_FAILURE_MODE: "open" } });
    try {
      assert.equal((await health(open)).ok, false);
      assert.equal((await open.post(GEN, BODY)).status, 200, "STATE_FAILURE_MODE=open serves tokens, uncounted");
    } finally {
      await open.dispose();
    }
  });

  for (const [what, secret] of [
    ["no SESSION_SECRET", undefined],
    ["a SESSION_SECRET of 15 characters", "fifteen-chars!!"],
  ]) {
    test(`session keys open with ${what}: ok false, named; only session keys stop, tokens and admin routes are served`, async () => {
      const w = await startWorker({ vars: { SESSION_KEYS: "open", SESSION_SECRET: secret } });
      try {
        const body = await health(w);
        assert.equal(body.ok, false);
        const problems = body.problems.join("\n");
        assert.match(problems, /SESSION_KEYS is open but SESSION_SECRET (is unset|must be at least 32 characters)/);
        assert.match(problems, /tokens and the admin routes still work/);
        if (secret) assert.ok(!JSON.stringify(body).includes(secret), "the secret is never shown");
        w.sim.script("*", step.answer('{"action":"say","content":"Thanks for the tip!"}'));
        const served = await w.post(GEN, BODY);
        assert.equal(served.status, 200, "a static token is served");
        assert.equal((await served.json()).content, "Thanks for the tip!");
        assert.equal((await w.fetch("/admin/tokens", { headers: ADMIN })).status, 200, "the admin routes answer");
        assert.equal((await w.fetch("/api/get-models")).status, 200, "the app's model list answers");
        const key = await asApp(w, "/api/get-session-key", { username: "u", broadcaster: "Luna" });
        assert.deepEqual([key.status, (await key.json()).code], [500, "server_misconfigured"]);
        const logged = w.logs.join("").split("\n").find((l) => l.includes('"event":"config_error"'));
        assert.match(logged ?? "", /SESSION_SECRET/, w.logs.join(""));
        const keyed = await asApp(w, GEN, { ...BODY, sessionKey: `cs1.${"9".repeat(10)}.${"a".repeat(24)}.${"b".repeat(32)}.${"c".repeat(43)}` });
        assert.equal(keyed.status, 401, "a session key is refused, not a 500");
      } finally {
        await w.dispose();
      }
    });
  }
});

describe("deploy, checked offline", () => {
  test("wrangler deploy --dry-run builds a bundle within Workers' size limits, without a login", (t) => {
    const out = mkdtempSync(join(tmpdir(), "coach-dry-run-"));
    try {
      // No account: a HOME without wrangler credentials, and no API token.
      const home = mkdtempSync(join(tmpdir(), "coach-home-"));
      const env = {
        ...process.env,
        // The Rust toolchain stays where it is (the build runs first).
        RUSTUP_HOME: process.env.RUSTUP_HOME ?? join(homedir(), ".rustup"),
        CARGO_HOME: process.env.CARGO_HOME ?? join(homedir(), ".cargo"),
        HOME: home,
        XDG_CONFIG_HOME: home,
        WRANGLER_SEND_METRICS: "false",
      };
      delete env.CLOUDFLARE_API_TOKEN;
      delete env.CLOUDFLARE_ACCOUNT_ID;
      const text = execFileSync(fileURLToPath(new URL("../../node_modules/.bin/wrangler", import.meta.url)), ["deploy", "--dry-run", "--outdir", out], {
        env,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      rmSync(home, { recursive: true, force: true });
      const m = text.match(/Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/);
      assert.ok(m, text);
      const [raw, gzip] = [Number(m[1]), Number(m[2])];
      // Workers size limits after compression: 3 MB Free, 10 MB Paid
      // (cloudflare-docs src/content/docs/workers/platform/limits.mdx @ 75617bbebff6, read 2026-11-21).
      assert.ok(gzip < 3 * 1024, `gzip ${gzip} KiB is over the Free plan's 3 MB`);
      t.diagnostic(`bundle: ${raw} KiB raw, ${gzip} KiB gzip (limits: 3 MB Free, 10 MB Paid; budget 300 KB gzip)`);
      for (const binding of ["env.COACH_KV", "env.AI", "env.AUTH_FAILURE_LIMITER"]) assert.ok(text.includes(binding), text);
      assert.ok(readdirSync(out).some((f) => f.endsWith(".wasm")), "the bundle has its wasm");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

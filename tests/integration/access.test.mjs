// Who may call it, and how often: bearer tokens (static and KV-issued),
// KV-backed rate limits, CORS and abuse limits, in workerd with real local KV
// and Miniflare's Rate Limiting bindings.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { EXAMPLE, ORIGIN, TOKEN, clearOfMinuteEdge, expectError, startWorker } from "./harness.mjs";

const ADMIN = "admin-token-0123456789abcdef";
const sha256 = (s) => createHash("sha256").update(s).digest("hex");

function post(w, { token = TOKEN, auth, ip = "203.0.113.7", origin, body = EXAMPLE } = {}) {
  const headers = { "Content-Type": "application/json", "CF-Connecting-IP": ip };
  if (auth !== undefined) headers.Authorization = auth;
  else if (token) headers.Authorization = `Bearer ${token}`;
  if (origin) headers.Origin = origin;
  return w.fetch("/api/generate-prompt", { method: "POST", headers, body: JSON.stringify(body) });
}

function admin(w, method, path = "", body, token = ADMIN) {
  return w.fetch(`/admin/tokens${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "CF-Connecting-IP": "198.51.100.1" },
    body: body ? JSON.stringify(body) : undefined,
  });
}

/** Waits until the counter write (done in waitUntil) has landed in KV. */
async function settle(w, callerToken, expectedDayCount) {
  const id = sha256(callerToken).slice(0, 12);
  for (let i = 0; i < 100; i++) {
    const { keys } = await w.kv.list({ prefix: `rl:${id}:` });
    if (keys.length) {
      const counter = JSON.parse(await w.kv.get(keys[0].name));
      if (counter.day_count >= expectedDayCount) return { key: keys[0].name, counter };
    }
    await sleep(10);
  }
  throw new Error("counter write never landed");
}

describe("bearer tokens", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());

  const cases = [
    ["missing", { token: null }],
    ["Basic credentials", { auth: "Basic dXNlcjpwYXNz" }],
    ["Bearer alone", { auth: "Bearer" }],
    ["Bearer with two tokens", { auth: `Bearer ${TOKEN} extra` }],
    ["a prefix of a real token", { token: TOKEN.slice(0, -1) }],
    ["a real token plus a character", { token: TOKEN + "x" }],
    ["an unknown token", { token: "nope-nope-nope" }],
  ];
  for (const [name, opts] of cases) {
    test(`401 for ${name}`, async () => {
      const resp = await post(w, { ...opts, ip: `192.0.2.${cases.findIndex((c) => c[0] === name) + 1}` });
      assert.equal(resp.headers.get("www-authenticate"), "Bearer");
      await expectError(resp, 401, "unauthorized");
    });
  }

  test("the scheme is case-insensitive and OPTIONS and /healthz need no token", async () => {
    assert.equal((await post(w, { auth: `bEaReR ${TOKEN}` })).status, 200);
    assert.equal((await w.fetch("/healthz")).status, 200);
    assert.equal((await w.fetch("/api/generate-prompt", { method: "OPTIONS", headers: { Origin: ORIGIN } })).status, 204);
  });

  test("a KV-issued token works, is stored only as its hash, and stops working when revoked", async () => {
    const created = await admin(w, "POST", "", { name: "Luna Live", per_minute: 50 });
    assert.equal(created.status, 201, await created.clone().text());
    const issued = await created.json();
    assert.match(issued.token, /^ck_[0-9a-f]{64}$/);
    assert.equal(issued.name, "Luna Live");

    const record = JSON.parse(await w.kv.get(`token:${sha256(issued.token)}`));
    assert.deepEqual([record.name, record.revoked, record.per_minute], ["Luna Live", false, 50]);
    assert.match(record.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const { keys } = await w.kv.list();
    for (const k of keys) {
      assert.ok(!k.name.includes(issued.token));
      assert.ok(!(await w.kv.get(k.name)).includes(issued.token));
    }

    assert.equal((await post(w, { token: issued.token })).status, 200);

    const listed = await (await admin(w, "GET")).json();
    const mine = listed.tokens.find((t) => t.id === issued.id);
    assert.deepEqual([mine.name, mine.revoked], ["Luna Live", false]);
    assert.ok(!JSON.stringify(listed).includes(issued.token));

    const revoked = await admin(w, "DELETE", `/${issued.id}`);
    assert.equal(revoked.status, 200);
    assert.equal((await revoked.json()).revoked, true);
    await expectError(await post(w, { token: issued.token }), 403, "forbidden");
    await expectError(await admin(w, "DELETE", "/0123456789ab"), 404, "not_found");
  });

  test("admin routes need ADMIN_TOKEN and validate input", async () => {
    await expectError(await admin(w, "GET", "", undefined, TOKEN), 401, "unauthorized");
    await expectError(await admin(w, "POST", "", { per_minute: 3 }), 400, "invalid_request");
    await expectError(await admin(w, "DELETE", "/xyz"), 400, "invalid_request");
    await expectError(await admin(w, "DELETE", "/"), 404, "not_found");
    await expectError(await admin(w, "DELETE", "A0123456789ab"), 404, "not_found");
  });

  test("tokens never appear in logs; callers are named", async () => {
    await post(w, {});
    await sleep(50);
    const logs = w.logs.join("");
    assert.match(logs, /"caller":"static-1 \([0-9a-f]{12}\)"/);
    assert.ok(!logs.includes(TOKEN), "the static token leaked into a log line");
    assert.ok(!/ck_[0-9a-f]{64}/.test(logs), "an issued token leaked into a log line");
  });
});

describe("rate limits", () => {
  let w;
  before(async () => (w = await startWorker({ vars: { RATE_LIMIT_PER_MINUTE: "3", RATE_LIMIT_PER_DAY: "1000" } })));
  after(() => w.dispose());

  test("N pass with counting-down headers, N+1 is 429 with Retry-After, a second token is unaffected, the window resets", async () => {
    await clearOfMinuteEdge(10_000);
    const remaining = [];
    for (let i = 1; i <= 3; i++) {
      const resp = await post(w, {});
      assert.equal(resp.status, 200);
      assert.equal(resp.headers.get("ratelimit-limit"), "3");
      remaining.push(resp.headers.get("ratelimit-remaining"));
      const reset = Number(resp.headers.get("ratelimit-reset"));
      assert.ok(reset >= 1 && reset <= 60, `reset ${reset}`);
      await settle(w, TOKEN, i);
    }
    assert.deepEqual(remaining, ["2", "1", "0"]);

    const limited = await post(w, { origin: ORIGIN });
    const retryAfter = Number(limited.headers.get("retry-after"));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(limited.headers.get("ratelimit-remaining"), "0");
    assert.equal(limited.headers.get("access-control-allow-origin"), ORIGIN, "429s carry CORS headers");
    await expectError(limited, 429, "rate_limited");
    const { counter } = await settle(w, TOKEN, 3);
    assert.equal(counter.day_count, 3, "a rejected request writes nothing");

    const other = await post(w, { token: "second-token-0123456789abcdef" });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get("ratelimit-remaining"), "2");

    // The minute window passes: age the stored counter by one minute.
    const { key } = await settle(w, TOKEN, 3);
    const stored = JSON.parse(await w.kv.get(key));
    await w.kv.put(key, JSON.stringify({ ...stored, minute: stored.minute - 1 }));
    const again = await post(w, {});
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("ratelimit-remaining"), "2");
  });

  test("every authenticated /api/* response carries RateLimit headers, errors included; a 401 none", async () => {
    const bad = await post(w, { token: "second-token-0123456789abcdef", body: { broadcaster: "B" } });
    assert.equal(bad.status, 400);
    assert.ok(bad.headers.get("ratelimit-limit"));
    const models = await w.fetch("/api/nope", { headers: { Authorization: "Bearer second-token-0123456789abcdef" } });
    assert.equal(models.status, 404);
    assert.ok(models.headers.get("ratelimit-remaining"));
    const unauthorized = await post(w, { token: "wrong-token" });
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.headers.get("ratelimit-limit"), null, "a failure is not counted in KV");
  });

  test("per-token limits from the KV record override the vars", async () => {
    const { token } = await (await admin(w, "POST", "", { name: "tight", per_minute: 100, per_day: 2 })).json();
    for (let i = 1; i <= 2; i++) {
      assert.equal((await post(w, { token })).status, 200);
      await settle(w, token, i);
    }
    const limited = await post(w, { token });
    assert.equal(limited.headers.get("ratelimit-limit"), "2");
    assert.ok(Number(limited.headers.get("retry-after")) > 60, "the day window resets at midnight UTC");
    await expectError(limited, 429, "rate_limited");
  });
});

describe("failed authentication per network", () => {
  const LIMIT = 5;
  let w;
  before(async () => (w = await startWorker({ ratelimits: { AUTH_FAILURE_LIMITER: { simple: { limit: LIMIT, period: 60 } } } })));
  after(() => w.dispose());

  test("40 wrong tokens from 40 addresses of one IPv6 /64 reach 429", async () => {
    const statuses = [];
    for (let i = 1; i <= 40; i++) {
      const resp = await post(w, { token: `guess-${i}`, ip: `2001:db8:aa:1:${i.toString(16)}::${i}` });
      statuses.push(resp.status);
      if (resp.status === 429) assert.ok(Number(resp.headers.get("retry-after")) >= 1);
    }
    assert.deepEqual(statuses.slice(0, LIMIT), Array(LIMIT).fill(401));
    assert.ok(statuses.includes(429), statuses.join(","));
    // Miniflare counts in fixed windows: one window boundary may fall inside the loop.
    assert.ok(statuses.filter((s) => s === 401).length <= 2 * LIMIT, statuses.join(","));
    assert.equal((await post(w, { token: "guess-x", ip: "2001:db8:aa:2::1" })).status, 401, "the next /64 has its own budget");
  });

  test("IPv4 addresses are counted one by one", async () => {
    for (let i = 0; i < LIMIT + 3; i++) await post(w, { token: `guess-${i}`, ip: "198.51.100.66" });
    assert.equal((await post(w, { token: "guess", ip: "198.51.100.66" })).status, 429);
    assert.equal((await post(w, { token: "guess", ip: "198.51.100.67" })).status, 401);
  });

  test("a valid token from an address others used for 30 wrong tokens is served", async () => {
    const shared = "203.0.113.99";
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await post(w, { token: `wrong-${i}`, ip: shared })).status);
    assert.ok(statuses.includes(429), "the address is over its failure budget");
    assert.equal((await post(w, { token: "wrong-again", ip: shared })).status, 429);
    const ok = await post(w, { ip: shared });
    assert.equal(ok.status, 200, await ok.clone().text());
    const { token } = await (await admin(w, "POST", "", { name: "studio" })).json();
    assert.equal((await post(w, { token, ip: shared })).status, 200, "an issued token too");
  });
});

describe("unauthenticated traffic and KV", () => {
  let w;
  before(async () => (w = await startWorker({ ratelimits: { AUTH_FAILURE_LIMITER: { simple: { limit: 3, period: 60 } } } })));
  after(() => w.dispose());

  test("no KV key is written by unauthenticated requests, refused or over budget", async () => {
    const attempts = [
      { token: null },
      { auth: "Basic dXNlcjpwYXNz" },
      { token: "not-a-token" },
      { token: "ck_" + "0".repeat(64) },
      { token: TOKEN.slice(0, -1) },
    ];
    const statuses = new Set();
    for (let round = 0; round < 3; round++) {
      for (const [i, a] of attempts.entries()) {
        statuses.add((await post(w, { ...a, ip: `192.0.2.${i + 1}` })).status);
        statuses.add((await admin(w, "GET", "", undefined, "wrong-admin-token")).status);
      }
    }
    assert.deepEqual([...statuses].sort(), [401, 429]);
    await sleep(100); // anything sent to waitUntil has landed
    const { keys } = await w.kv.list();
    assert.deepEqual(keys, []);
  });
});

describe("KV failing on writes only", () => {
  for (const [mode, status] of [
    ["closed", 503],
    ["open", 200],
  ]) {
    test(`a failed counter write under KV_FAILURE_MODE=${mode}`, async () => {
      const w = await startWorker({ kvProbe: true, vars: { KV_FAILURE_MODE: mode } });
      try {
        w.probe.failing.add("put");
        const resp = await post(w, {});
        assert.equal(resp.status, status, await resp.clone().text());
        if (status === 503) await expectError(resp, 503, "storage_unavailable");
        // Closed: the write runs beside the model call, and its failure refuses the answer.
        assert.equal(w.sim.calls.length, 1);
        await sleep(100);
        const line = w.logs.join("").split("\n").find((l) => l.includes('"kv_error"'));
        assert.ok(line, w.logs.join(""));
        assert.match(line, /"during":"rate limit write"/);
        assert.match(line, new RegExp(`"kv_failure_mode":"${mode}"`));
        assert.match(line, mode === "closed" ? /refused with 503/ : /served without being counted/);
      } finally {
        await w.dispose();
      }
    });
  }
});

describe("KV_FAILURE_MODE=closed counts before it answers", () => {
  test("an answered request's counter is already in KV when the response arrives", async () => {
    const w = await startWorker({ vars: { KV_FAILURE_MODE: "closed" } });
    try {
      for (let i = 1; i <= 3; i++) {
        assert.equal((await post(w, {})).status, 200);
        const { keys } = await w.kv.list({ prefix: `rl:${sha256(TOKEN).slice(0, 12)}:` });
        assert.equal(keys.length, 1);
        assert.equal(JSON.parse(await w.kv.get(keys[0].name)).day_count, i, "no waiting for waitUntil");
      }
    } finally {
      await w.dispose();
    }
  });
});

describe("admin listing", () => {
  test("500 tokens are listed from KV list metadata, with no read per token", async () => {
    const w = await startWorker({ kvProbe: true });
    try {
      const issued = [];
      for (let i = 0; i < 500; i++) {
        const resp = await admin(w, "POST", "", { name: `broadcaster ${i}`, per_day: i + 1 });
        assert.equal(resp.status, 201);
        issued.push(await resp.json());
      }
      w.probe.ops.length = 0;
      const listed = await (await admin(w, "GET")).json();
      assert.equal(listed.tokens.length, 500);
      const byId = new Map(listed.tokens.map((t) => [t.id, t]));
      for (const t of issued) {
        const seen = byId.get(t.id);
        assert.deepEqual([seen.name, seen.per_day, seen.revoked], [t.name, t.per_day, false]);
      }
      assert.equal(w.probe.count("get"), 0, JSON.stringify(w.probe.ops.slice(0, 5)));
      assert.ok(w.probe.count("list") >= 1);
    } finally {
      await w.dispose();
    }
  });
});

describe("request bodies", () => {
  let w;
  // A worker per test: an unfinished upload must not hold the next test's connection.
  beforeEach(async () => (w = await startWorker()));
  afterEach(() => w.dispose());

  /** A body of `total` bytes in 16 KiB chunks, made only as it is pulled. */
  function lazyBody(total) {
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    const stream = new ReadableStream({
      pull(c) {
        if (stream.pulled >= total) return c.close();
        stream.pulled += chunk.length;
        c.enqueue(chunk);
      },
    });
    stream.pulled = 0;
    return stream;
  }

  test("a chunked 1 MB body without Content-Length is refused with 413 before it is read whole", async () => {
    const body = lazyBody(1024 * 1024);
    const resp = await w.fetch("/api/generate-prompt", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}`, "CF-Connecting-IP": "203.0.113.7" },
      body,
      duplex: "half",
    });
    await expectError(resp, 413, "payload_too_large");
    assert.equal(w.sim.calls.length, 0);
  });

  // Bounded at 64 MiB (a thousand times the limit), not endless: once in many
  // runs, Miniflare's loopback went on draining an endless body after the
  // Worker had answered, and the run hung until CI's time ran out.
  test("a chunked body a thousand times the limit is answered 413", async (t) => {
    const body = lazyBody(64 * 1024 * 1024);
    const resp = await w.fetch("/api/generate-prompt", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}` },
      body,
      duplex: "half",
    });
    await expectError(resp, 413, "payload_too_large");
    t.diagnostic(`sent by the time the answer was read: ${body.pulled} bytes`);
    await body.cancel().catch(() => {});
  });

  test("a chunked body within the limit is read", async () => {
    const text = new TextEncoder().encode(JSON.stringify(EXAMPLE));
    const body = new ReadableStream({
      start(c) {
        c.enqueue(text.slice(0, 10));
        c.enqueue(text.slice(10));
        c.close();
      },
    });
    const resp = await w.fetch("/api/generate-prompt", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}` },
      body,
      duplex: "half",
    });
    assert.equal(resp.status, 200, await resp.clone().text());
  });
});

describe("the minute window through CALLER_MINUTE_LIMITER", () => {
  test("the binding counts the minute; with the daily quota off nothing is written to KV", async () => {
    const w = await startWorker({
      vars: { RATE_LIMIT_PER_DAY: "off" },
      ratelimits: { CALLER_MINUTE_LIMITER: { simple: { limit: 3, period: 60 } } },
    });
    try {
      const statuses = [];
      for (let i = 0; i < 8; i++) statuses.push((await post(w, {})).status);
      assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
      assert.ok(statuses.includes(429), statuses.join(","));
      // Miniflare counts in fixed windows: one boundary may fall inside the loop.
      assert.ok(statuses.filter((s) => s === 200).length <= 6, statuses.join(","));
      assert.equal((await post(w, { token: "second-token-0123456789abcdef" })).status, 200, "each caller has its own window");
      await sleep(100);
      assert.deepEqual((await w.kv.list()).keys, [], "no counter in KV");
    } finally {
      await w.dispose();
    }
  });

  test("the daily quota stays in KV beside the binding", async () => {
    const w = await startWorker({
      vars: { RATE_LIMIT_PER_DAY: "2" },
      ratelimits: { CALLER_MINUTE_LIMITER: { simple: { limit: 100, period: 60 } } },
    });
    try {
      for (let i = 1; i <= 2; i++) {
        const resp = await post(w, {});
        assert.equal(resp.status, 200);
        assert.equal(resp.headers.get("ratelimit-limit"), "2", "the day is the window KV reports");
        await settle(w, TOKEN, i);
      }
      await expectError(await post(w, {}), 429, "rate_limited");
    } finally {
      await w.dispose();
    }
  });
});

describe("CORS", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());

  test("preflight from an allowed origin", async () => {
    const resp = await w.fetch("/api/generate-prompt", {
      method: "OPTIONS",
      headers: { Origin: ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" },
    });
    assert.equal(resp.status, 204);
    assert.equal(resp.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(resp.headers.get("access-control-allow-methods"), /POST/);
    assert.match(resp.headers.get("access-control-allow-headers"), /Authorization/);
    assert.match(resp.headers.get("access-control-allow-headers"), /Content-Type/);
    assert.ok(Number(resp.headers.get("access-control-max-age")) > 0);
    assert.match(resp.headers.get("vary"), /Origin/);
  });

  test("preflight from a disallowed origin gets no allow-origin", async () => {
    const resp = await w.fetch("/api/generate-prompt", { method: "OPTIONS", headers: { Origin: "https://evil.example" } });
    assert.equal(resp.headers.get("access-control-allow-origin"), null);
  });

  test("responses and errors to an allowed origin carry CORS headers; others do not", async () => {
    const okResp = await post(w, { origin: ORIGIN });
    assert.equal(okResp.status, 200);
    assert.equal(okResp.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(okResp.headers.get("access-control-expose-headers"), /Retry-After/);
    const unauthorized = await post(w, { origin: ORIGIN, token: "bad-token" });
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.headers.get("access-control-allow-origin"), ORIGIN);
    const invalid = await post(w, { origin: ORIGIN, body: {} });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.headers.get("access-control-allow-origin"), ORIGIN);
    const foreign = await post(w, { origin: "https://evil.example" });
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);
  });
});

describe("KV failing", () => {
  for (const [mode, expected] of [
    ["closed", 503],
    ["open", 200],
  ]) {
    test(`KV_FAILURE_MODE=${mode}`, async () => {
      const w = await startWorker({ brokenKv: true, vars: { KV_FAILURE_MODE: mode } });
      try {
        const resp = await post(w, {});
        if (expected === 503) {
          assert.ok(resp.headers.get("retry-after"));
          await expectError(resp, 503, "storage_unavailable");
        } else {
          assert.equal(resp.status, 200, await resp.clone().text());
          assert.equal(resp.headers.get("ratelimit-limit"), null, "nothing was counted");
        }
        // A per-user token cannot be checked without KV, whatever the policy.
        await expectError(await post(w, { token: "ck_" + "0".repeat(64) }), 503, "storage_unavailable");
        assert.equal(w.sim.calls.length, expected === 200 ? 1 : 0);
      } finally {
        await w.dispose();
      }
    });
  }
});

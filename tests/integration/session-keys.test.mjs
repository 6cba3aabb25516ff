// Session keys as an operator manages them, against the built Worker: a
// key's whole life is bounded however often it is renewed; one subject is
// revoked without touching other keys (in the caller's state object, and in
// KV); every key is rotated with an overlap; and the secrets shipped with the
// project, or too short, are refused by a deployed Worker and accepted by
// ./scripts/dev's local mode only.
//
// A test cannot wait 36 hours, so keys from the past are signed here as the
// Worker signs them (src/core/access/session.rs), under the test's secret;
// the arithmetic over whole lives is in the Rust unit tests (session/life.rs).
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { BASE_VARS, EXAMPLE, STATE_VARS, TOKEN, startWorker, step } from "./harness.mjs";

const GEN = "/api/generate-prompt";
const SECRET = "session-keys-test-secret-0123456789abcdef";
const OLD = "session-keys-old-secret-0123456789abcdef";
const KEYS = { SESSION_KEYS: "open", SESSION_SECRET: SECRET };
const ADMIN = { Authorization: `Bearer ${BASE_VARS.ADMIN_TOKEN}`, "Content-Type": "application/json" };
const HOUR = 3600;

/** The `NAME=value` lines of .dev.vars.example: the examples a deployed Worker refuses. */
const EXAMPLES = Object.fromEntries(
  readFileSync(new URL("../../.dev.vars.example", import.meta.url), "utf8")
    .split("\n")
    .map((l) => l.match(/^([A-Z_]+)=(.*)$/))
    .filter(Boolean)
    .map((m) => [m[1], m[2]]),
);

const now = () => Math.floor(Date.now() / 1000);
/** A secret's key id, as the Worker derives it. */
const kidOf = (secret) => createHmac("sha256", secret).update("coach-worker session key id").digest("hex").slice(0, 8);
const field = (key, i) => key.split(".")[i];
/** The caller's id in logs and /admin/usage: `s-` and the subject's first 12 hex digits. */
const callerOf = (key) => `s-${field(key, 4).slice(0, 12)}`;

/** A `cs2` key signed as the Worker signs one. */
function mint(secret, { issued, expires, subject = "07".repeat(12), broadcaster = "Luna" }) {
  const digest = createHash("sha256").update(broadcaster.toLowerCase()).digest("hex").slice(0, 32);
  const signed = `cs2.${kidOf(secret)}.${issued}.${expires}.${subject}.${digest}`;
  return `${signed}.${createHmac("sha256", secret).update(signed).digest("hex")}`;
}

/** A `cs1` key, as the previous version signed them. */
function mintLegacy(secret, { expires, subject = "07".repeat(12), broadcaster = "Luna" }) {
  const digest = createHash("sha256").update(broadcaster.toLowerCase()).digest("hex").slice(0, 32);
  const signed = `cs1.${expires}.${subject}.${digest}`;
  return `${signed}.${createHmac("sha256", secret).update(signed).digest("hex")}`;
}

/** A POST as the coach frontend sends it: no Authorization header. */
function asApp(w, path, body) {
  return w.fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": "203.0.113.20" },
    body: JSON.stringify(body),
  });
}

/** A suggestion asked with `sessionKey`; resolves to [status, body]. */
async function ask(w, sessionKey, broadcaster = "Luna") {
  const resp = await asApp(w, GEN, { ...EXAMPLE, aimodel: undefined, broadcaster, sessionKey });
  return [resp.status, await resp.json()];
}

async function newKey(w, broadcaster = "Luna") {
  const resp = await asApp(w, "/api/get-session-key", { username: "user", broadcaster });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  return body;
}

/** The Worker's `secret_problems` log lines. */
const secretProblems = (w) =>
  w.logs
    .join("")
    .split("\n")
    .filter((l) => l.includes('"event":"secret_problems"'))
    .join("\n");

describe("a key's whole life", () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: KEYS });
    w.sim.script("*", step.answer('{"action":"say","content":"Thanks for the tip, Max!"}'));
  });
  after(() => w?.dispose());

  test("a new key is cs2: the key id of its secret, its first issue, 12 hours of life", async () => {
    const { sessionKey, expiresAt } = await newKey(w);
    assert.match(sessionKey, /^cs2\.[0-9a-f]{8}\.\d+\.\d+\.[0-9a-f]{24}\.[0-9a-f]{32}\.[0-9a-f]{64}$/);
    assert.equal(field(sessionKey, 1), kidOf(SECRET));
    const issued = Number(field(sessionKey, 2));
    assert.ok(Math.abs(issued - now()) <= 5, `first issued ${issued}`);
    assert.equal(Date.parse(expiresAt) / 1000, issued + 12 * HOUR);
    const [status, body] = await ask(w, sessionKey);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.sessionKey, undefined, "a young key is not renewed");
  });

  test("renewals keep the first issue and never reach past the cap; past it the key is refused with what to press", async () => {
    // Renewed in full while the cap is far.
    const young = now() - 7 * HOUR;
    let [status, body] = await ask(w, mint(SECRET, { issued: young, expires: young + 12 * HOUR }));
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(Number(field(body.sessionKey, 2)), young, "the first issue is kept");
    assert.ok(Math.abs(Date.parse(body.expiresAt) / 1000 - (now() + 12 * HOUR)) <= 5, body.expiresAt);
    // In its last 12 hours (of 36): an hour at a time, while used.
    const late = now() - 30 * HOUR;
    [status, body] = await ask(w, mint(SECRET, { issued: late, expires: now() + 600 }));
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(Number(field(body.sessionKey, 2)), late);
    assert.ok(Math.abs(Date.parse(body.expiresAt) / 1000 - (now() + HOUR)) <= 5, body.expiresAt);
    // Half an hour before the cap, the renewal ends at the cap.
    const last = now() - 36 * HOUR + 1800;
    [status, body] = await ask(w, mint(SECRET, { issued: last, expires: now() + 600 }));
    assert.equal(status, 200, JSON.stringify(body));
    const renewed = body.sessionKey;
    assert.equal(Date.parse(body.expiresAt) / 1000, last + 36 * HOUR, "the renewal stops at the cap");
    [status, body] = await ask(w, renewed);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.sessionKey, undefined, "nothing more to renew");
    // Past the cap, whatever its expiry says.
    const ended = now() - 36 * HOUR - 60;
    [status, body] = await ask(w, mint(SECRET, { issued: ended, expires: now() + 6 * HOUR }));
    assert.equal(status, 401);
    assert.equal(body.code, "unauthorized");
    assert.match(body.error, /reached the end of its life.*Open Settings and press Save Configuration \(or reload the page\)/);
  });

  test("an expired key, and one for another broadcaster: 401 with what to press", async () => {
    const issued = now() - 13 * HOUR;
    let [status, body] = await ask(w, mint(SECRET, { issued, expires: issued + 12 * HOUR }));
    assert.deepEqual([status, body.code], [401, "unauthorized"]);
    assert.match(body.error, /has expired\. Open Settings and press Save Configuration/);
    [status, body] = await ask(w, (await newKey(w, "Luna")).sessionKey, "Nova");
    assert.equal(status, 401);
    assert.match(body.error, /another broadcaster name/);
  });

  test("a cs1 key of the previous version: accepted until it expires, renewed into cs2 at once", async () => {
    const expires = now() + 2 * HOUR;
    let [status, body] = await ask(w, mintLegacy(SECRET, { expires }));
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(field(body.sessionKey, 0), "cs2");
    assert.equal(Number(field(body.sessionKey, 2)), expires - 12 * HOUR, "its first issue: its own latest issue");
    assert.equal(callerOf(body.sessionKey), "s-070707070707", "the same subject");
    [status, body] = await ask(w, mintLegacy(SECRET, { expires: now() - 1 }));
    assert.deepEqual([status, body.code], [401, "unauthorized"]);
  });

  test("SESSION_KEY_MAX_LIFE_HOURS = 12: every key lives an hour at a time", async () => {
    const short = await startWorker({ vars: { ...KEYS, SESSION_KEY_MAX_LIFE_HOURS: "12" } });
    try {
      const { sessionKey, expiresAt } = await newKey(short);
      assert.equal(Date.parse(expiresAt) / 1000, Number(field(sessionKey, 2)) + HOUR);
    } finally {
      await short.dispose();
    }
  });
});

for (const [store, vars] of [
  ["the caller's state object", { ...STATE_VARS, DAILY_NEURON_BUDGET: "off" }],
  ["KV", {}],
]) {
  describe(`revoking one subject, kept in ${store}`, () => {
    let w;
    before(async () => {
      w = await startWorker({ vars: { ...KEYS, ...vars } });
      w.sim.script("*", step.answer('{"action":"say","content":"Welcome in, everyone!"}'));
    });
    after(() => w?.dispose());

    const revoke = (subject, headers = ADMIN) =>
      w.fetch("/admin/session-keys/revoke", { method: "POST", headers, body: JSON.stringify({ subject }) });

    test("its keys are refused from the next request on; other keys are not; a new key works", async () => {
      const stolen = (await newKey(w)).sessionKey;
      const other = (await newKey(w)).sessionKey;
      assert.notEqual(callerOf(stolen), callerOf(other));
      assert.equal((await ask(w, stolen))[0], 200);
      const resp = await revoke(callerOf(stolen));
      assert.equal(resp.status, 200);
      assert.deepEqual(await resp.json(), { subject: callerOf(stolen), revoked: true });
      const [status, body] = await ask(w, stolen);
      assert.deepEqual([status, body.code], [401, "unauthorized"]);
      assert.match(body.error, /revoked by the service's operator\. Open Settings and press Save Configuration/);
      // A renewal of the revoked key carries the same subject: refused too.
      const issued = now() - 8 * HOUR;
      const renewedForm = mint(SECRET, { issued, expires: issued + 12 * HOUR, subject: field(stolen, 4) });
      assert.equal((await ask(w, renewedForm))[0], 401);
      assert.equal((await ask(w, other))[0], 200, "another subject is untouched");
      assert.equal((await ask(w, (await newKey(w)).sessionKey))[0], 200, "the app's own flow gets a working key");
      assert.equal((await revoke(callerOf(stolen))).status, 200, "idempotent");
      const logged = w.logs.join("").split("\n").find((l) => l.includes('"event":"session_revoked"'));
      assert.match(logged ?? "", new RegExp(`"subject":"${callerOf(stolen)}"`));
    });

    test("the admin route takes the caller as logs name it, and needs the admin token", async () => {
      for (const subject of ["s-0123", "not-hex-at-all!", 7]) {
        const resp = await revoke(subject);
        const body = await resp.json();
        assert.deepEqual([resp.status, body.code], [400, "invalid_request"], JSON.stringify(subject));
        assert.match(body.error, /subject/);
      }
      assert.equal((await revoke("s-0123456789ab", { "Content-Type": "application/json" })).status, 401);
      assert.equal((await revoke("s-0123456789ab", { ...ADMIN, Authorization: `Bearer ${TOKEN}` })).status, 401);
      assert.equal((await w.fetch("/admin/session-keys/revoke", { headers: ADMIN })).status, 405);
    });
  });
}

describe("rotating every key, with an overlap", () => {
  const until = (secs) => new Date((now() + secs) * 1000).toISOString();
  const rotated = (untilSecs) => ({ ...KEYS, SESSION_SECRET_PREVIOUS: OLD, SESSION_SECRET_PREVIOUS_UNTIL: until(untilSecs) });
  const issued = now() - 60;
  const old = mint(OLD, { issued, expires: issued + 12 * HOUR });

  test("during the overlap: an old key is accepted and renewed at once under the new secret", async () => {
    const w = await startWorker({ vars: rotated(12 * HOUR) });
    try {
      w.sim.script("*", step.answer('{"action":"say","content":"Welcome back!"}'));
      const [status, body] = await ask(w, old);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(field(body.sessionKey, 1), kidOf(SECRET), "signed under the new secret");
      assert.equal(Number(field(body.sessionKey, 2)), issued, "the first issue is kept");
      assert.equal(callerOf(body.sessionKey), callerOf(old), "the same caller");
      const [again, next] = await ask(w, body.sessionKey);
      assert.equal(again, 200);
      assert.equal(next.sessionKey, undefined, "a new-secret key is not renewed again");
      const fresh = (await newKey(w)).sessionKey;
      assert.equal(field(fresh, 1), kidOf(SECRET), "new keys are the new secret's");
    } finally {
      await w.dispose();
    }
  });

  test("after the overlap: an old key is refused, a renewed one works, and /healthz says to remove the old secret", async () => {
    const w = await startWorker({ vars: rotated(-60) });
    try {
      w.sim.script("*", step.answer('{"action":"say","content":"Welcome back!"}'));
      const [status, body] = await ask(w, old);
      assert.deepEqual([status, body.code], [401, "unauthorized"]);
      assert.match(body.error, /not valid here .*the service's secret changed.*Save Configuration/);
      const renewed = mint(SECRET, { issued, expires: issued + 12 * HOUR });
      assert.equal((await ask(w, renewed))[0], 200);
      const health = await (await w.fetch("/healthz", { headers: ADMIN })).json();
      assert.match(health.problems.join("\n"), /SESSION_SECRET_PREVIOUS's overlap ended at .*npx wrangler secret delete SESSION_SECRET_PREVIOUS/);
    } finally {
      await w.dispose();
    }
  });
});

describe("secrets shipped with the project, or too short", () => {
  const shortAdmin = "short-admin-token-01234";

  test("a deployed Worker refuses them, serves nothing that depends on them, and says why", async () => {
    const w = await startWorker({
      vars: {
        SESSION_KEYS: "open",
        SESSION_SECRET: EXAMPLES.SESSION_SECRET,
        ADMIN_TOKEN: shortAdmin,
        API_TOKENS: `${EXAMPLES.API_TOKENS},${TOKEN}`,
      },
    });
    try {
      const keyed = await asApp(w, "/api/get-session-key", { username: "user", broadcaster: "Luna" });
      assert.deepEqual([keyed.status, (await keyed.json()).code], [500, "server_misconfigured"], "no key under the example secret");
      const forged = mint(EXAMPLES.SESSION_SECRET, { issued: now(), expires: now() + HOUR });
      assert.equal((await ask(w, forged))[0], 401, "a key anyone could sign is refused");
      const admin = await w.fetch("/admin/tokens", { headers: { Authorization: `Bearer ${shortAdmin}` } });
      const refusal = await admin.json();
      assert.deepEqual([admin.status, refusal.code], [403, "forbidden"]);
      assert.match(refusal.error, /ADMIN_TOKEN is shorter than 24 characters\. Set a new one: openssl rand -hex 32/);
      const health = await w.fetch("/healthz", { headers: { Authorization: `Bearer ${shortAdmin}` } });
      assert.equal(health.status, 403, "no detailed report under a refused admin token");
      assert.equal((await health.json()).error, refusal.error);
      assert.deepEqual(await (await w.fetch("/healthz")).json(), { ok: false });
      const example = await w.post(GEN, { ...EXAMPLE, aimodel: undefined }, { Authorization: `Bearer ${EXAMPLES.API_TOKENS}` });
      assert.equal(example.status, 401, "the example API token is refused");
      w.sim.script("*", step.answer('{"action":"say","content":"Hello there!"}'));
      assert.equal((await w.post(GEN, { ...EXAMPLE, aimodel: undefined })).status, 200, "the other token is served");
      // A request cannot turn local mode on: it is read from the vars alone.
      const tricked = await w.fetch("/api/get-session-key?LOCAL_DEV=true", {
        method: "POST",
        headers: { "Content-Type": "application/json", "LOCAL_DEV": "true", Cookie: "LOCAL_DEV=true" },
        body: JSON.stringify({ broadcaster: "Luna", LOCAL_DEV: true }),
      });
      assert.equal(tricked.status, 500);
      const logged = secretProblems(w);
      assert.match(logged, /SESSION_SECRET is an example value shipped with this project/);
      assert.match(logged, /ADMIN_TOKEN must be at least 24 characters/);
      assert.match(logged, /API_TOKENS entry 1 of 2 is an example value shipped with this project/);
      for (const secret of [EXAMPLES.SESSION_SECRET, shortAdmin, EXAMPLES.API_TOKENS]) {
        assert.ok(!w.logs.join("").includes(secret), "a refused secret is never logged");
      }
    } finally {
      await w.dispose();
    }
  });

  test("the example ADMIN_TOKEN: the admin routes are off, with the sentence", async () => {
    const w = await startWorker({ vars: { ADMIN_TOKEN: EXAMPLES.ADMIN_TOKEN } });
    try {
      const resp = await w.fetch("/admin/tokens", { headers: { Authorization: `Bearer ${EXAMPLES.ADMIN_TOKEN}` } });
      const body = await resp.json();
      assert.equal(resp.status, 403);
      assert.match(body.error, /ADMIN_TOKEN is an example value shipped with this project, which anyone can read/);
    } finally {
      await w.dispose();
    }
  });

  test("local mode (LOCAL_DEV, as ./scripts/dev passes it) takes .dev.vars.example as it is", async () => {
    const w = await startWorker({
      vars: {
        LOCAL_DEV: "true",
        SESSION_KEYS: "open",
        SESSION_SECRET: EXAMPLES.SESSION_SECRET,
        ADMIN_TOKEN: EXAMPLES.ADMIN_TOKEN,
        API_TOKENS: EXAMPLES.API_TOKENS,
      },
    });
    try {
      w.sim.script("*", step.answer('{"action":"say","content":"Hello there!"}'));
      const { sessionKey } = await newKey(w);
      assert.equal((await ask(w, sessionKey))[0], 200);
      const auth = { Authorization: `Bearer ${EXAMPLES.ADMIN_TOKEN}` };
      assert.equal((await w.fetch("/admin/tokens", { headers: auth })).status, 200);
      const served = await w.post(GEN, { ...EXAMPLE, aimodel: undefined }, { Authorization: `Bearer ${EXAMPLES.API_TOKENS}` });
      assert.equal(served.status, 200);
      const health = await (await w.fetch("/healthz", { headers: auth })).json();
      assert.match(health.problems.join("\n"), /LOCAL_DEV is true: the example secrets shipped with this project are accepted/);
    } finally {
      await w.dispose();
    }
  });
});

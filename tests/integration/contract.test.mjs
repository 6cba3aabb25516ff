// The OpenAPI document (src/openapi.json) against the running Worker: each
// response below, one per documented status where the suite can cause it,
// is checked against the document (status, media type, body schema, each
// server-sent event, headers); and the document is checked against the code
// it describes (every error code, every route, the methods each answers, the
// models and option ranges it offers) and against OpenAPI 3.1. Schemathesis
// (schemathesis.test.mjs) fuzzes the Worker against the same document.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { validate } from "@hyperjump/json-schema/openapi-3-1";
import { EXAMPLE, ORIGIN, TOKEN, startWorker, step } from "./harness.mjs";
import { DOC, checkNotFound, checkResponse } from "./openapi.mjs";

const ADMIN = "admin-token-0123456789abcdef";
const BODY = { ...EXAMPLE, aimodel: undefined };
const GEN = "/api/generate-prompt";
const KEY = "/api/get-session-key";
const SESSIONS = { SESSION_KEYS: "open", SESSION_SECRET: "contract-session-secret-0123456789abcdef" };
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY"];

/** The documented methods of a path, upper case. */
const documented = (path) => Object.keys(DOC.paths[path]).filter((k) => METHODS.includes(k.toUpperCase())).map((k) => k.toUpperCase());

/** Asserts an error body: `{error: <sentence>, code}` with the code expected. */
function isError(body, code) {
  assert.equal(body.code, code, JSON.stringify(body));
  assert.equal(typeof body.error, "string");
  assert.ok(body.error.length > 10, body.error);
  return body;
}

const keyRequest = (w, body, headers = {}) =>
  w.fetch(KEY, {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": "203.0.113.50", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const admin = (w, method, path = "", body) =>
  w.fetch(`/admin/tokens${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json", "CF-Connecting-IP": "203.0.113.9" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe("the document", () => {
  test("is a valid OpenAPI 3.1 document", async () => {
    const output = await validate("https://spec.openapis.org/oas/3.1/schema-base", DOC);
    assert.ok(output.valid);
  });

  test("lists every error code the Worker can answer, and no other", () => {
    const source = readFileSync(new URL("../../src/core/error.rs", import.meta.url), "utf8");
    const codeFn = source.slice(source.indexOf("pub fn code("), source.indexOf("pub fn message("));
    const codes = [...codeFn.matchAll(/=> "([a-z_]+)"/g)].map((m) => m[1]);
    assert.ok(codes.length >= 15, codes.join());
    assert.deepEqual([...new Set(codes)].sort(), [...DOC.components.schemas.ErrorCode.enum].sort());
  });

  test("has a path for every route the Worker names", () => {
    const source = readFileSync(new URL("../../src/edge/routes.rs", import.meta.url), "utf8");
    const fn = source.slice(source.indexOf("pub fn name("), source.indexOf("pub fn allow("));
    const routes = [...new Set([...fn.matchAll(/=> "(\/[^"]*)"/g)].map((m) => m[1]))];
    assert.ok(routes.length >= 8, routes.join());
    assert.deepEqual(routes.sort(), Object.keys(DOC.paths).sort());
  });

  test("every error body is {error: string, code}, and a stream has no error event", async () => {
    const body = DOC.components.schemas.Error;
    assert.deepEqual(body.required, ["error", "code"]);
    assert.equal(body.properties.error.type, "string");
    const events = DOC.paths[GEN].post.responses["200"].content["text/event-stream"].schema.oneOf;
    assert.deepEqual(events.map((e) => e.properties.event.const), ["delta", "done"]);
    for (const [name, r] of Object.entries(DOC.components.responses)) {
      const schema = r.content?.["application/json"]?.schema;
      if (schema) assert.equal(schema.$ref, "#/components/schemas/Error", name);
    }
  });
});

describe("responses of the running Worker match the document", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());

  test("GET /openapi.json serves the checked-in document, without credentials", async () => {
    const body = await checkResponse("GET", "/openapi.json", await w.fetch("/openapi.json"));
    assert.deepEqual(body, DOC);
  });

  test("X-Request-Id: a sane one is echoed, any other is replaced, none is refused", async () => {
    const sent = (id) => w.fetch("/healthz", { headers: { "X-Request-Id": id } });
    for (const id of ["abc-123", "req 42/x:y", "~".repeat(128)]) {
      const resp = await sent(id);
      await checkResponse("GET", "/healthz", resp);
      assert.equal(resp.headers.get("x-request-id"), id);
    }
    for (const id of ["x".repeat(129), "caf\u00e9"]) {
      const resp = await sent(id);
      await checkResponse("GET", "/healthz", resp);
      assert.match(resp.headers.get("x-request-id"), /^[0-9a-f]{32}$/);
    }
  });

  test("GET /healthz: public, with the admin token, with another token", async () => {
    const body = await checkResponse("GET", "/healthz", await w.fetch("/healthz"));
    assert.deepEqual(body, { ok: true });
    const report = await checkResponse("GET", "/healthz", await w.fetch("/healthz", { headers: { Authorization: `Bearer ${ADMIN}` } }));
    assert.deepEqual(report.problems, []);
    isError(await checkResponse("GET", "/healthz", await w.fetch("/healthz", { headers: { Authorization: `Bearer ${TOKEN}` } })), "unauthorized");
  });

  test("POST /api/generate-prompt: 200 as JSON, with usage", async () => {
    w.sim.script("*", step.answer('{"action":"say","content":"Thanks for the 50 tokens!"}', { usage: { prompt_tokens: 300, completion_tokens: 12 } }));
    const body = await checkResponse("POST", GEN, await w.post(GEN, BODY));
    assert.equal(body.action, "say");
  });

  test("POST /api/generate-prompt: 200 for a retired model (retired_model)", async () => {
    w.sim.script("*", step.answer('{"action":"say","content":"Thanks for the 50 tokens!"}'));
    const body = await checkResponse("POST", GEN, await w.post(GEN, EXAMPLE));
    assert.equal(body.retired_model, EXAMPLE.aimodel);
  });

  test("POST /api/generate-prompt: 200 as server-sent events (delta, done)", async () => {
    w.sim.script("*", step.answer('{"action":"say","content":"Thanks for the 50 tokens, Max!"}'));
    const events = await checkResponse("POST", GEN, await w.post(GEN, { ...BODY, stream: true }));
    assert.ok(events.some((e) => e.event === "delta"));
    assert.equal(events.at(-1).event, "done");
  });

  test("POST /api/generate-prompt: a stream that breaks is answered by the rules coach, as the document says", async () => {
    w.sim.script(
      "*",
      step.sse(['data: {"response":"Thank you User456 for"}\n\n'], { end: "error", errorMessage: "3040: Capacity temporarily exceeded" }),
    );
    const events = await checkResponse("POST", GEN, await w.post(GEN, { ...BODY, stream: true }));
    assert.deepEqual(events.map((e) => e.event), ["delta", "done"]);
    assert.equal(events.at(-1).data.model, "rules");
  });

  test("400: invalid_json, invalid_request, unknown_model", async () => {
    for (const [body, code] of [
      ["{nope", "invalid_json"],
      [{ context: [] }, "invalid_request"],
      [{ ...BODY, aimodel: "@cf/nobody/nothing" }, "unknown_model"],
    ]) {
      const got = await checkResponse("POST", GEN, await w.post(GEN, body));
      isError(got, code);
    }
    const field = await checkResponse("POST", GEN, await w.post(GEN, { ...BODY, options: { max_tokens: 1025 } }));
    assert.equal(isError(field, "invalid_request").field, "options.max_tokens");
  });

  test("401 without a token", async () => {
    const got = await checkResponse("POST", GEN, await w.post(GEN, BODY, { Authorization: "" }));
    isError(got, "unauthorized");
  });

  test("405, 413, 415", async () => {
    const wrong = await w.fetch(GEN, { headers: { Authorization: `Bearer ${TOKEN}` } });
    isError(await checkResponse("GET", GEN, wrong), "method_not_allowed");
    const large = { ...BODY, preferences: "x".repeat(70 * 1024) };
    isError(await checkResponse("POST", GEN, await w.post(GEN, large)), "payload_too_large");
    const text = await w.post(GEN, JSON.stringify(BODY), { "Content-Type": "text/plain" });
    isError(await checkResponse("POST", GEN, text), "unsupported_media_type");
    const healthz = await w.fetch("/healthz", { method: "POST" });
    isError(await checkResponse("POST", "/healthz", healthz), "method_not_allowed");
  });

  test("404 for a path no route has", async () => {
    const got = await checkNotFound(await w.fetch("/api/nope", { headers: { Authorization: `Bearer ${TOKEN}` } }));
    isError(got, "not_found");
  });

  test("a method a path does not list is 405, with Allow naming the listed ones", async () => {
    for (const path of Object.keys(DOC.paths)) {
      const url = path.replace("{id}", "0123456789abcdef");
      const auth = path.startsWith("/admin/") ? ADMIN : TOKEN;
      for (const method of METHODS.filter((m) => !documented(path).includes(m))) {
        const resp = await w.fetch(url, { method, headers: { Authorization: `Bearer ${auth}` } });
        const got = await checkResponse(method, path, resp);
        isError(got, "method_not_allowed");
        const allow = resp.headers.get("allow").split(",").map((m) => m.trim());
        assert.deepEqual(allow.sort(), documented(path).sort(), `${method} ${path}: Allow ${allow}`);
      }
    }
  });

  test("OPTIONS preflights", async () => {
    for (const route of Object.keys(DOC.paths).filter((p) => DOC.paths[p].options)) {
      const resp = await w.fetch(route, {
        method: "OPTIONS",
        headers: { Origin: ORIGIN, "Access-Control-Request-Method": "POST" },
      });
      assert.equal(await checkResponse("OPTIONS", route, resp), null);
    }
  });

  test("GET /api/models", async () => {
    const resp = await w.fetch("/api/models", { headers: { Authorization: `Bearer ${TOKEN}` } });
    const body = await checkResponse("GET", "/api/models", resp);
    assert.ok(body.models.length > 0);
  });

  test("the request body pairs each offered model with its option ranges, as GET /api/models lists them", async () => {
    const resp = await w.fetch("/api/models", { headers: { Authorization: `Bearer ${TOKEN}` } });
    const listing = await resp.json();
    const schemas = DOC.components.schemas;
    const [byDefault, ...branches] = schemas.GenerateRequest.anyOf;
    const ranges = (ref) => schemas[ref.$ref.split("/").pop()].properties;
    // What a model's listing says, as the document must state it: the door's own bounds included.
    const expected = (model) =>
      Object.fromEntries(
        ["temperature", "max_tokens", "top_p", "top_k", "repetition_penalty", "presence_penalty", "frequency_penalty", "seed"].map((k) => {
          const r = model.options[k];
          if (!r) return [k, null];
          const whole = ["max_tokens", "top_k", "seed"].includes(k);
          let [min, max] = [r.min, r.max];
          if (whole) [min, max] = [Math.max(min ?? 0, 0), max ?? 18446744073709551615];
          if (k === "max_tokens") [min, max] = [Math.max(min, 1), Math.min(max, 1024)];
          return [k, { min, max }];
        }),
      );
    const stated = (props) =>
      Object.fromEntries(Object.entries(props).map(([k, s]) => [k, s.type === "null" ? null : { min: s.minimum ?? null, max: s.maximum ?? null }]));
    assert.deepEqual(
      branches.map((b) => b.properties.aimodel.enum),
      listing.models.map((m) => [m.id, m.alias]),
    );
    for (const [i, model] of listing.models.entries()) {
      assert.deepEqual(stated(ranges(branches[i].properties.options)), expected(model), model.id);
    }
    const def = listing.models.find((m) => m.id === listing.default);
    assert.deepEqual(stated(ranges(byDefault.properties.options)), expected(def), "the default model");
  });

  test("GET /api/get-models: the offered models, default first, without credentials", async () => {
    const body = await checkResponse("GET", "/api/get-models", await w.fetch("/api/get-models"));
    const resp = await w.fetch("/api/models", { headers: { Authorization: `Bearer ${TOKEN}` } });
    const listing = await resp.json();
    assert.equal(body[0].id, listing.default);
    assert.deepEqual(body.map((m) => m.id).sort(), listing.models.map((m) => m.id).sort());
  });

  test("POST /api/get-session-key: 403 session_keys_off where keys are off", async () => {
    isError(await checkResponse("POST", KEY, await keyRequest(w, { username: "user", broadcaster: "zoe" })), "session_keys_off");
  });

  test("the admin routes: issue, list, revoke, unknown id; a revoked token is 403", async () => {
    const issued = await checkResponse("POST", "/admin/tokens", await admin(w, "POST", "", { name: "Contract", per_minute: 5 }));
    await checkResponse("GET", "/admin/tokens", await admin(w, "GET"));
    await checkResponse("DELETE", "/admin/tokens/{id}", await admin(w, "DELETE", `/${issued.id}`));
    const missing = await checkResponse("DELETE", "/admin/tokens/{id}", await admin(w, "DELETE", "/0123456789abcdef"));
    isError(missing, "not_found");
    const bad = await checkResponse("POST", "/admin/tokens", await admin(w, "POST", "", { name: "" }));
    assert.equal(isError(bad, "invalid_request").field, "name");
    const revoked = await w.post(GEN, BODY, { Authorization: `Bearer ${issued.token}` });
    isError(await checkResponse("POST", GEN, revoked), "forbidden");
  });
});

describe("session keys: the coach frontend's calls match the document", () => {
  let w;
  before(async () => (w = await startWorker({ vars: SESSIONS, ratelimits: { SESSION_KEY_LIMITER: { simple: { limit: 3, period: 60 } } } })));
  after(() => w.dispose());

  test("200 with a key; the key is a credential for its broadcaster only, in the body", async () => {
    const got = await checkResponse("POST", KEY, await keyRequest(w, { username: "user", broadcaster: "BroadcasterName" }));
    assert.ok(Date.parse(got.expiresAt) > Date.now());
    w.sim.script("*", step.answer('{"action":"say","content":"Thanks for the 50 tokens!"}'));
    const body = { ...BODY, preferences: "", aimodel: null, sessionKey: got.sessionKey, reason: "tip" };
    const answer = await checkResponse("POST", GEN, await w.post(GEN, body, { Authorization: "" }));
    assert.equal(answer.action, "say");
    const streamed = await checkResponse("POST", GEN, await w.post(GEN, { ...body, stream: true }, { Authorization: "" }));
    assert.equal(streamed.at(-1).event, "done");
    const other = await w.post(GEN, { ...body, broadcaster: "SomeoneElse" }, { Authorization: "" });
    isError(await checkResponse("POST", GEN, other), "unauthorized");
    const forged = await w.post(GEN, { ...body, sessionKey: got.sessionKey.replace(/.$/, (c) => (c === "0" ? "1" : "0")) }, { Authorization: "" });
    isError(await checkResponse("POST", GEN, forged), "unauthorized");
  });

  test("400 (with the field), 415, then 429 with Retry-After once the network asked too often", async () => {
    const bad = await checkResponse("POST", KEY, await keyRequest(w, { username: "user", broadcaster: " " }));
    assert.equal(isError(bad, "invalid_request").field, "broadcaster");
    const text = await keyRequest(w, JSON.stringify({ broadcaster: "zoe" }), { "Content-Type": "text/plain" });
    isError(await checkResponse("POST", KEY, text), "unsupported_media_type");
    const limited = await checkResponse("POST", KEY, await keyRequest(w, { broadcaster: "zoe" }));
    isError(limited, "rate_limited");
  });

  test("POST /admin/session-keys/revoke: 200, then the key is 401; 400 for a subject that is none", async () => {
    const keys = await startWorker({ vars: SESSIONS });
    try {
      const revoke = (subject) =>
        keys.fetch("/admin/session-keys/revoke", {
          method: "POST",
          headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
          body: JSON.stringify({ subject }),
        });
      const { sessionKey } = await checkResponse("POST", KEY, await keyRequest(keys, { broadcaster: "BroadcasterName" }));
      const subject = `s-${sessionKey.split(".")[4].slice(0, 12)}`;
      assert.deepEqual(await checkResponse("POST", "/admin/session-keys/revoke", await revoke(subject)), { subject, revoked: true });
      const refused = await keys.post(GEN, { ...BODY, sessionKey }, { Authorization: "" });
      isError(await checkResponse("POST", GEN, refused), "unauthorized");
      const bad = await checkResponse("POST", "/admin/session-keys/revoke", await revoke("s-12"));
      assert.equal(isError(bad, "invalid_request").field, "subject");
    } finally {
      await keys.dispose();
    }
  });

  test("500 server_misconfigured when keys are open and SESSION_SECRET is unset", async () => {
    const unsigned = await startWorker({ vars: { SESSION_KEYS: "open" } });
    try {
      isError(await checkResponse("POST", KEY, await keyRequest(unsigned, { broadcaster: "zoe" })), "server_misconfigured");
    } finally {
      await unsigned.dispose();
    }
  });
});

describe("responses of a strict or broken deployment match the document", () => {
  test("429 rate_limited and 503 model_unavailable", async () => {
    const w = await startWorker({ vars: { RULES_FALLBACK: "false", MODEL_RETRIES: "0", RATE_LIMIT_PER_MINUTE: "1" } });
    try {
      w.sim.script("*", step.error("5007: No such model"));
      const unavailable = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      isError(unavailable, "model_unavailable");
      const limited = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      isError(limited, "rate_limited");
    } finally {
      await w.dispose();
    }
  });

  test("503 storage_unavailable", async () => {
    const w = await startWorker({ brokenKv: true });
    try {
      const got = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      isError(got, "storage_unavailable");
    } finally {
      await w.dispose();
    }
  });

  test("500 server_misconfigured; /healthz still answers and names the problem", async () => {
    const w = await startWorker({ vars: { KV_FAILURE_MODE: "sometimes" } });
    try {
      const got = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      isError(got, "server_misconfigured");
      const health = await checkResponse("GET", "/healthz", await w.fetch("/healthz"));
      assert.equal(health.ok, false);
      await checkResponse("GET", "/openapi.json", await w.fetch("/openapi.json"));
    } finally {
      await w.dispose();
    }
  });
});

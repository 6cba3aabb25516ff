// The OpenAPI document (src/openapi.json) against the running Worker: each
// response below, one per documented status where the suite can cause it,
// is checked against the document (status, media type, body schema, each
// server-sent event, headers); and the document is checked against the code
// it describes (every error code, every route) and against OpenAPI 3.1.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { validate } from "@hyperjump/json-schema/openapi-3-1";
import { EXAMPLE, ORIGIN, TOKEN, startWorker, step } from "./harness.mjs";
import { DOC, checkNotFound, checkResponse } from "./openapi.mjs";

const ADMIN = "admin-token-0123456789";
const BODY = { ...EXAMPLE, aimodel: undefined };
const GEN = "/api/generate-prompt";

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
    const source = readFileSync(new URL("../../src/edge/mod.rs", import.meta.url), "utf8");
    const fn = source.slice(source.indexOf("fn route_name("), source.indexOf("struct Trace"));
    const routes = [...new Set([...fn.matchAll(/=> "(\/[^"]*)"/g)].map((m) => m[1]))];
    assert.ok(routes.length >= 6, routes.join());
    assert.deepEqual(routes.sort(), Object.keys(DOC.paths).sort());
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

  test("GET /healthz", async () => {
    const body = await checkResponse("GET", "/healthz", await w.fetch("/healthz"));
    assert.equal(body.ok, true);
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

  test("POST /api/generate-prompt: a stream that breaks ends with an error event", async () => {
    w.sim.script(
      "*",
      step.sse(['data: {"response":"Thank you User456 for"}\n\n'], { end: "error", errorMessage: "3040: Capacity temporarily exceeded" }),
    );
    const events = await checkResponse("POST", GEN, await w.post(GEN, { ...BODY, stream: true }));
    assert.equal(events.at(-1).event, "error");
  });

  test("400: invalid_json, invalid_request, unknown_model", async () => {
    for (const [body, code] of [
      ["{nope", "invalid_json"],
      [{ context: [] }, "invalid_request"],
      [{ ...BODY, aimodel: "@cf/nobody/nothing" }, "unknown_model"],
    ]) {
      const got = await checkResponse("POST", GEN, await w.post(GEN, body));
      assert.equal(got.error.code, code);
    }
  });

  test("401 without a token", async () => {
    const got = await checkResponse("POST", GEN, await w.post(GEN, BODY, { Authorization: "" }));
    assert.equal(got.error.code, "unauthorized");
  });

  test("405, 413, 415", async () => {
    const wrong = await w.fetch(GEN, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal((await checkResponse("GET", GEN, wrong)).error.code, "method_not_allowed");
    const large = { ...BODY, preferences: "x".repeat(70 * 1024) };
    assert.equal((await checkResponse("POST", GEN, await w.post(GEN, large))).error.code, "payload_too_large");
    const text = await w.post(GEN, JSON.stringify(BODY), { "Content-Type": "text/plain" });
    assert.equal((await checkResponse("POST", GEN, text)).error.code, "unsupported_media_type");
    const healthz = await w.fetch("/healthz", { method: "POST" });
    assert.equal((await checkResponse("POST", "/healthz", healthz)).error.code, "method_not_allowed");
  });

  test("404 for a path no route has", async () => {
    const got = await checkNotFound(await w.fetch("/api/nope", { headers: { Authorization: `Bearer ${TOKEN}` } }));
    assert.equal(got.error.code, "not_found");
  });

  test("OPTIONS preflights", async () => {
    for (const route of [GEN, "/api/models"]) {
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

  test("the admin routes: issue, list, revoke, unknown id; a revoked token is 403", async () => {
    const issued = await checkResponse("POST", "/admin/tokens", await admin(w, "POST", "", { name: "Contract", per_minute: 5 }));
    await checkResponse("GET", "/admin/tokens", await admin(w, "GET"));
    await checkResponse("DELETE", "/admin/tokens/{id}", await admin(w, "DELETE", `/${issued.id}`));
    const missing = await checkResponse("DELETE", "/admin/tokens/{id}", await admin(w, "DELETE", "/0123456789abcdef"));
    assert.equal(missing.error.code, "not_found");
    const bad = await checkResponse("POST", "/admin/tokens", await admin(w, "POST", "", { name: "" }));
    assert.equal(bad.error.code, "invalid_request");
    const revoked = await w.post(GEN, BODY, { Authorization: `Bearer ${issued.token}` });
    assert.equal((await checkResponse("POST", GEN, revoked)).error.code, "forbidden");
  });
});

describe("responses of a strict or broken deployment match the document", () => {
  test("429 rate_limited and 503 model_unavailable", async () => {
    const w = await startWorker({ vars: { RULES_FALLBACK: "false", MODEL_RETRIES: "0", RATE_LIMIT_PER_MINUTE: "1" } });
    try {
      w.sim.script("*", step.error("5007: No such model"));
      const unavailable = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      assert.equal(unavailable.error.code, "model_unavailable");
      const limited = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      assert.equal(limited.error.code, "rate_limited");
    } finally {
      await w.dispose();
    }
  });

  test("503 storage_unavailable", async () => {
    const w = await startWorker({ brokenKv: true });
    try {
      const got = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      assert.equal(got.error.code, "storage_unavailable");
    } finally {
      await w.dispose();
    }
  });

  test("500 server_misconfigured; /healthz still answers and names the problem", async () => {
    const w = await startWorker({ vars: { KV_FAILURE_MODE: "sometimes" } });
    try {
      const got = await checkResponse("POST", GEN, await w.post(GEN, BODY));
      assert.equal(got.error.code, "server_misconfigured");
      const health = await checkResponse("GET", "/healthz", await w.fetch("/healthz"));
      assert.equal(health.ok, false);
      await checkResponse("GET", "/openapi.json", await w.fetch("/openapi.json"));
    } finally {
      await w.dispose();
    }
  });
});

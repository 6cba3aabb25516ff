// Runs the built Worker (build/index.js + wasm) in workerd through Miniflare,
// with real local KV, Miniflare's Rate Limiting bindings (exact in-memory
// counts per fixed window) and a simulated `AI` binding scripted from the test.
//
// The simulated binding is a wrapped binding: module `sim-ai` returns an
// instance of a class named `Ai` (workers-rs checks the constructor name).
// First it refuses what Workers AI refuses, from the same published catalog
// the Worker is built with (src/core/llm/catalog.json): an id the catalog does not
// know, or knows as retired, throws `5007`; `response_format` on a model
// without JSON mode throws `5025`; an option the model's schema lacks or a
// value outside its range throws. Only then does `run(model, input)` ask the
// Node test, over a service binding, what to do: return an object or a
// string, stream SSE bytes, throw an Error with a Workers AI code, answer
// slowly, or never answer. Asked to stream (`stream: true`, which it refuses
// for a model whose schema lacks it), it answers as Workers AI does, with an
// event stream: a scripted answer is streamed word by word, and a scripted
// stream can be paced, gated until the test opens it, broken or stalled.
//
// `response_format: {type: "json_object"}` is accepted where the model's
// published input schema documents it (data/workers-ai-models/, Llama Guard
// 3). An unscripted Llama Guard call answers as its published output schema
// says: `{response: {safe, categories}}` with that format, else the text `safe`.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { Miniflare, Response } from "miniflare";

export const CATALOG = JSON.parse(readFileSync(new URL("../../src/core/llm/catalog.json", import.meta.url), "utf8"));

/** Whether the catalog knows `id` as retired today (as Workers AI would refuse it). */
export function isRetired(entry, now = Date.now()) {
  if (entry.retires_on) return now >= Date.parse(`${entry.retires_on}T00:00:00Z`);
  return entry.retired_by_notice;
}

/** Models whose published input schema takes `response_format: {type: "json_object"}`. */
const DATA = new URL("../../data/workers-ai-models/", import.meta.url);
export const JSON_OBJECT_MODELS = readdirSync(DATA)
  .map((f) => JSON.parse(readFileSync(new URL(f, DATA), "utf8")))
  .filter((m) => /json_object/.test(m.schema?.input?.properties?.response_format?.properties?.type?.description ?? ""))
  .map((m) => m.name);

export const GUARD = "@cf/meta/llama-guard-3-8b";

export const TOKEN = "test-token-0123456789abcdef";
export const ORIGIN = "https://coach.example.com";

export const BASE_VARS = {
  DEFAULT_MODEL: "@cf/meta/llama-3.1-8b-instruct-fast",
  // As wrangler.toml ships them: the prices the catalog lacks.
  MODEL_PRICES: "@cf/meta/llama-3.1-8b-instruct-fast=0.045/0.384,@cf/meta/llama-3.2-3b-instruct=0.051/0.335",
  FALLBACK_MODELS: "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
  MODEL_TIMEOUT_MS: "1500",
  REQUEST_DEADLINE_MS: "4000",
  MODEL_RETRIES: "2",
  API_TOKENS: `${TOKEN},second-token-0123456789abcdef`,
  ADMIN_TOKEN: "admin-token-0123456789abcdef",
  RATE_LIMIT_PER_MINUTE: "1000",
  RATE_LIMIT_PER_DAY: "100000",
  ALLOWED_ORIGINS: ORIGIN,
  KV_FAILURE_MODE: "closed",
  // Most suites test one request at a time, each on its own, as before the
  // state objects: they count callers in KV and keep no memory between
  // requests. The state objects' own suite, and the browser suites (run as
  // wrangler.toml ships), use "do".
  RATE_LIMIT_STORE: "kv",
  DAILY_NEURON_BUDGET: "off",
};

/** The vars of a deployment as wrangler.toml ships it: state objects count callers. */
// Usage reaches the deployment's object a second after a request (shipped: a minute), so tests can read it.
export const STATE_VARS = { RATE_LIMIT_STORE: "do", STATE_FAILURE_MODE: "closed", DAILY_NEURON_BUDGET: "10000", USAGE_REPORT_SECONDS: "1" };

// Non-ASCII stays out of this source (\u escapes only).
const SIM_AI = `
function aiError(message) {
  const e = new Error(message);
  e.name = "AiError";
  return e;
}
${isRetired}
class Ai {
  constructor(env) { this.env = env; }
  // What Workers AI refuses before any inference, per the published catalog.
  refuse(model, input) {
    const entry = this.env.CATALOG.models.find((m) => m.id === model);
    if (!entry || isRetired(entry)) return aiError("5007: No such model " + model + " or task");
    const jsonObject = input.response_format?.type === "json_object" && this.env.JSON_OBJECT_MODELS.includes(model);
    if (input.response_format !== undefined && !entry.json_mode && !jsonObject) {
      return aiError("5025: This model doesn't suuport JSON Schema");
    }
    if (!Array.isArray(input.messages)) return aiError("Input validation error: 'messages' is required");
    for (const [key, value] of Object.entries(input)) {
      if (key === "stream") {
        if (!entry.streams) return aiError("Input validation error: 'stream' is not accepted");
        continue;
      }
      if (["messages", "response_format"].includes(key)) continue;
      const range = entry.options[key];
      if (!range) return aiError("Input validation error: '" + key + "' is not accepted");
      if ((range.min !== null && value < range.min) || (range.max !== null && value > range.max)) {
        return aiError("Input validation error: '" + key + "' out of range");
      }
      if (range.integer && !Number.isInteger(value)) return aiError("Input validation error: '" + key + "' must be an integer");
    }
    return null;
  }
  async run(model, input, options) {
    // Record when the Worker abandons the call through its signal.
    options?.signal?.addEventListener("abort", () => {
      this.env.CONTROL.fetch("http://sim/aborted", { method: "POST", body: JSON.stringify({ model }) });
    });
    const refused = this.refuse(model, input);
    if (refused) {
      // Recorded for the tests; a call that is not refused is recorded when
      // it asks for its step: one request carrying the input, as the real
      // binding makes one.
      await this.env.CONTROL.fetch("http://sim/log", {
        method: "POST",
        body: JSON.stringify({ model, input, refused: refused.message }),
      });
      throw refused;
    }
    const res = await this.env.CONTROL.fetch("http://sim/run", {
      method: "POST",
      body: JSON.stringify({ model, input, gateway: options?.gateway ?? null }),
    });
    const step = await res.json();
    if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
    switch (step.kind) {
      case "value":
        // Asked to stream, Workers AI answers with an event stream, never an object.
        return input.stream === true ? this.streamOf(step.value, step.gapMs ?? 0) : step.value;
      case "throw": {
        const e = new Error(step.message);
        e.name = step.name || "AiError";
        throw e;
      }
      case "sse":
        return this.paced(step);
      case "hang":
        return new Promise(() => {});
      default:
        throw new Error("sim-ai: unknown step " + step.kind);
    }
  }
  // A whole answer as Workers AI streams it: one event per word, usage, [DONE].
  streamOf(value, gapMs) {
    const text = typeof value === "string" ? value : value.response ?? value.choices?.[0]?.message?.content ?? "";
    const openai = typeof value === "object" && value.choices !== undefined;
    const words = String(text).match(/\\s*\\S+/g) ?? [];
    const chunks = words.map((w) =>
      "data: " + JSON.stringify(openai ? { choices: [{ delta: { content: w } }] } : { response: w }) + "\\n\\n");
    chunks.push("data: " + JSON.stringify({ response: "", usage: { prompt_tokens: 100, completion_tokens: words.length } }) + "\\n\\n");
    chunks.push("data: [DONE]\\n\\n");
    return this.paced({ chunks, gapMs });
  }
  // Chunks (strings, or arrays of byte values to split characters) sent
  // gapMs apart; a gate pauses until the test opens it; then the stream
  // closes, errors or stalls.
  paced({ chunks, gapMs = 0, gateAfter = -1, end = "close", errorMessage = "" }) {
    const enc = new TextEncoder();
    const control = this.env.CONTROL;
    let i = 0;
    return new ReadableStream({
      async pull(c) {
        if (i === gateAfter) await control.fetch("http://sim/gate");
        if (i < chunks.length) {
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
          const chunk = chunks[i++];
          c.enqueue(typeof chunk === "string" ? enc.encode(chunk) : new Uint8Array(chunk));
          return;
        }
        if (end === "error") {
          const e = new Error(errorMessage);
          e.name = "AiError";
          c.error(e);
        } else if (end === "stall") {
          await new Promise(() => {});
        } else {
          c.close();
        }
      },
      cancel() {
        return control.fetch("http://sim/cancelled", { method: "POST" });
      },
    });
  }
}
export default function (env) { return new Ai(env); }
`;

// A KV namespace that fails every operation, for the KV-failure policy tests
// (real local KV cannot be made to fail).
const BROKEN_KV = `
class BrokenKv {
  async get() { throw new Error("KV GET failed: 503 Service Unavailable"); }
  async getWithMetadata() { throw new Error("KV GET failed: 503 Service Unavailable"); }
  async put() { throw new Error("KV PUT failed: 503 Service Unavailable"); }
  async list() { throw new Error("KV LIST failed: 503 Service Unavailable"); }
  async delete() { throw new Error("KV DELETE failed: 503 Service Unavailable"); }
}
export default function () { return new BrokenKv(); }
`;

// A state object that cannot be reached: every request to it throws, as a
// Durable Object does when it is overloaded or its storage fails.
const BROKEN_STATE = `
import { DurableObject } from "cloudflare:workers";
export class BrokenState extends DurableObject {
  async fetch() { throw new Error("Durable Object is overloaded. Requests queued for too long."); }
}
export default { fetch() { return new Response("broken-state"); } };
`;

// Real local KV behind a probe: every operation is reported to the Node test
// (which may answer "fail"), so tests can count reads per key and make writes
// fail while reads work.
const KV_PROBE = `
class ProbedKv {
  constructor(env) { this.env = env; }
  async probe(op, key) {
    const res = await this.env.CONTROL.fetch("http://probe/op", { method: "POST", body: JSON.stringify({ op, key }) });
    const { fail } = await res.json();
    if (fail) throw new Error("KV " + op.toUpperCase() + " failed: 503 Service Unavailable");
  }
  async get(key, options) { await this.probe("get", key); return this.env.REAL.get(key, options); }
  async getWithMetadata(key, options) { await this.probe("get", key); return this.env.REAL.getWithMetadata(key, options); }
  async put(key, value, options) { await this.probe("put", key); return this.env.REAL.put(key, value, options); }
  async list(options) { await this.probe("list", options?.prefix ?? ""); return this.env.REAL.list(options); }
  async delete(key) { await this.probe("delete", key); return this.env.REAL.delete(key); }
}
export default function (env) { return new ProbedKv(env); }
`;

class KvProbe {
  constructor() {
    this.ops = [];
    /** Operations (`get`, `put`, `list`, `delete`) that fail from now on. */
    this.failing = new Set();
  }
  count(op) {
    return this.ops.filter((o) => o.op === op).length;
  }
  async handle(request) {
    const { op, key } = await request.json();
    this.ops.push({ op, key });
    return Response.json({ fail: this.failing.has(op) });
  }
}

/** Steps the simulated model can take. */
export const step = {
  object: (value) => ({ kind: "value", value }),
  answer: (response, extra = {}) => ({ kind: "value", value: { response, ...extra } }),
  string: (s) => ({ kind: "value", value: s }),
  error: (message) => ({ kind: "throw", message }),
  sse: (chunks, more = {}) => ({ kind: "sse", chunks, ...more }),
  /** An event stream of Workers AI tokens (`{"response": t}`), then [DONE]. */
  tokens: (tokens, more = {}) => ({
    kind: "sse",
    chunks: [...tokens.map((t) => `data: ${JSON.stringify({ response: t })}\n\n`), "data: [DONE]\n\n"],
    ...more,
  }),
  slow: (ms, s) => ({ ...s, delayMs: ms }),
  hang: () => ({ kind: "hang" }),
  /**
   * A step chosen per call, as a sampled model varies its answers:
   * `choose(input, n, model)` returns the step to take, `input` the call's
   * input (its `messages`), `n` how many calls this pick answered before.
   */
  pick: (choose) => ({ kind: "pick", choose, n: 0 }),
};

class SimAi {
  constructor() {
    this.reset();
  }
  reset() {
    this.calls = [];
    this.refused = [];
    /** Models whose call the Worker aborted, in order. */
    this.aborted = [];
    this.scripts = new Map();
    this.cancelled = 0;
    this.gate = {};
    this.gate.promise = new Promise((resolve) => (this.gate.resolve = resolve));
  }
  /** Lets a gated stream (`gateAfter`) go on. */
  openGate() {
    this.gate.resolve();
  }
  /** Steps for `model` ("*" for any), taken in order; the last one repeats. */
  script(model, ...steps) {
    this.scripts.set(model, steps);
  }
  callsTo(model) {
    return this.calls.filter((c) => c.model === model);
  }
  async handle(request) {
    const path = new URL(request.url).pathname;
    if (path === "/gate") {
      await this.gate.promise;
      return new Response("open");
    }
    if (path === "/cancelled") {
      this.cancelled += 1;
      return new Response("ok");
    }
    if (path === "/aborted") {
      this.aborted.push((await request.json()).model);
      return new Response("ok");
    }
    if (path === "/log") {
      // Refused calls are recorded here (`refused` says why); the others when they ask for a step.
      const entry = await request.json();
      this.refused.push(entry);
      this.calls.push({ model: entry.model, input: entry.input, refused: entry.refused });
      return new Response("ok");
    }
    const { model, input, gateway } = await request.json();
    this.calls.push({ model, input, gateway });
    const queue = this.scripts.get(model) ?? this.scripts.get("*");
    const unscripted = '{"action":"say","content":"Hi everyone, an unscripted answer!"}';
    const shape = CATALOG.models.find((m) => m.id === model)?.answer;
    const next = !queue
      ? JSON_OBJECT_MODELS.includes(model)
        ? step.answer(input.response_format ? { safe: true, categories: [] } : "safe")
        : shape === "choices"
        ? step.object({ choices: [{ message: { content: unscripted }, finish_reason: "stop" }] })
        : step.answer(unscripted)
      : queue.length > 1
        ? queue.shift()
        : queue[0];
    if (next.kind === "pick") return Response.json(next.choose(input, next.n++, model));
    return Response.json(next);
  }
}

/** wrangler.toml's compatibility_date: the Worker is tested under the date it deploys with. */
export const COMPATIBILITY_DATE = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8").match(
  /^compatibility_date = "(\d{4}-\d{2}-\d{2})"$/m,
)[1];

/**
 * The `namespace_id` of each Rate Limiting binding, as wrangler.toml's
 * `[[ratelimits]]` number them: Miniflare counts per namespace, not per
 * binding name, as Cloudflare does.
 */
const RATELIMIT_NAMESPACES = { AUTH_FAILURE_LIMITER: "1101", CALLER_MINUTE_LIMITER: "1102", SESSION_KEY_LIMITER: "1103" };

/** Paths the Worker answers before static assets (wrangler.toml `[assets] run_worker_first`). */
export const RUN_WORKER_FIRST = ["/api/*", "/admin/*", "/healthz", "/openapi.json"];

/**
 * Starts the Worker. `vars` override BASE_VARS (undefined removes one);
 * `ai: false` leaves the AI binding out; `brokenKv: true` binds a COACH_KV
 * whose every operation throws; `kvProbe: true` binds real KV behind the
 * probe (`w.probe`). `ratelimits` are Miniflare's Rate Limiting bindings
 * (as `[[ratelimits]]` in wrangler.toml; null entries leave one out).
 * `state: false` leaves the CALLER_STATE Durable Objects out (a build that
 * does not export them); `brokenState: true` binds one whose every request throws.
 * `logs` collects what the Worker logs. `scriptPath` runs another build with
 * the same bindings (the bench's floor Worker). `assets` (a directory) serves
 * static files same-origin as wrangler.toml's `[assets]` does, the Worker
 * invoked first for RUN_WORKER_FIRST; `w.url` is the HTTP address Miniflare
 * listens on (for a browser). `inspectorPort` opens the Worker to the Chrome
 * DevTools protocol on that port (bench/profile.mjs).
 */
/**
 * Waits, when fewer than `ms` are left of the current minute, for the next
 * one: a test that counts requests against a per-minute limit must not see
 * the window turn over (the Worker's windows are epoch minutes), or its
 * requests would be counted in two.
 */
export async function clearOfMinuteEdge(ms = 5_000) {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < ms) await new Promise((r) => setTimeout(r, left + 50));
}

export async function startWorker({
  vars = {},
  ai = true,
  brokenKv = false,
  kvProbe = false,
  ratelimits = {},
  scriptPath = "build/index.js",
  state = scriptPath === "build/index.js",
  brokenState = false,
  assets,
  inspectorPort,
} = {}) {
  const logs = [];
  const sim = new SimAi();
  const bindings = { ...BASE_VARS, ...vars };
  for (const k of Object.keys(bindings)) if (bindings[k] === undefined) delete bindings[k];
  const wrapped = {};
  if (ai) wrapped.AI = { scriptName: "sim-ai" };
  if (brokenKv) wrapped.COACH_KV = { scriptName: "broken-kv" };
  const probe = new KvProbe();
  if (kvProbe) wrapped.COACH_KV = { scriptName: "kv-probe" };
  const limiters = { AUTH_FAILURE_LIMITER: { simple: { limit: 1000, period: 60 } }, ...ratelimits };
  for (const k of Object.keys(limiters)) {
    if (!limiters[k]) delete limiters[k];
    else limiters[k] = { namespace_id: RATELIMIT_NAMESPACES[k], ...limiters[k] };
  }
  const mf = new Miniflare({
    ...(inspectorPort && { inspectorPort }),
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) stream.on("data", (d) => logs.push(d.toString()));
    },
    workers: [
      {
        name: "coach",
        ...(inspectorPort && { unsafeInspectorProxy: true }),
        modules: true,
        scriptPath,
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
        compatibilityDate: COMPATIBILITY_DATE,
        // With the probe, the test reads the same namespace as COACH_KV_DIRECT.
        kvNamespaces: brokenKv ? [] : kvProbe ? { COACH_KV_DIRECT: "coach-kv" } : { COACH_KV: "coach-kv" },
        kvPersist: false,
        ratelimits: limiters,
        bindings,
        wrappedBindings: wrapped,
        // The caller's state objects, SQLite-backed as wrangler.toml's migration
        // declares them; brokenState binds a class whose every request throws.
        durableObjects: !state
          ? {}
          : brokenState
            ? { CALLER_STATE: { className: "BrokenState", scriptName: "broken-state" } }
            : { CALLER_STATE: { className: "CallerState", useSQLite: true } },
        durableObjectsPersist: false,
        // wrangler's `run_worker_first = [...]` becomes `static_routing`.
        ...(assets && {
          assets: {
            directory: assets,
            routerConfig: { has_user_worker: true, static_routing: { user_worker: RUN_WORKER_FIRST, asset_worker: [] } },
          },
        }),
      },
      { name: "broken-kv", modules: true, script: BROKEN_KV },
      {
        name: "broken-state",
        modules: true,
        script: BROKEN_STATE,
        durableObjects: { BROKEN: { className: "BrokenState", useSQLite: true } },
      },
      {
        name: "kv-probe",
        modules: true,
        script: KV_PROBE,
        kvNamespaces: { REAL: "coach-kv" },
        serviceBindings: { CONTROL: (request) => probe.handle(request) },
      },
      {
        name: "sim-ai",
        modules: true,
        script: SIM_AI,
        bindings: { CATALOG, JSON_OBJECT_MODELS },
        serviceBindings: { CONTROL: (request) => sim.handle(request) },
      },
    ],
  });
  const url = await mf.ready;
  const kv = brokenKv ? null : await mf.getKVNamespace(kvProbe ? "COACH_KV_DIRECT" : "COACH_KV");
  const fetch = (path, init = {}) => mf.dispatchFetch(`http://localhost${path}`, init);
  return {
    mf,
    url,
    sim,
    kv,
    probe,
    logs,
    fetch,
    /** POST a JSON body with the test token (headers may override). */
    post(path, body, headers = {}) {
      return fetch(path, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${TOKEN}`,
          "CF-Connecting-IP": "203.0.113.7",
          ...headers,
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    },
    dispose: () => mf.dispose(),
  };
}

export const EXAMPLE = {
  context: [
    { text: "User123: Hello everyone!", type: "chat", timestamp: "2025-03-13T03:15:45.000Z" },
    { text: "User456 tipped 50 tokens", type: "tip", timestamp: "2025-03-13T03:16:12.000Z" },
  ],
  broadcaster: "BroadcasterName",
  preferences: "Engage more with tips.",
  aimodel: "@hf/mistral/mistral-7b-instruct-v0.2",
};

/** Asserts the status and returns the parsed JSON body. */
export async function expectJson(resp, status = 200) {
  const text = await resp.text();
  assert.equal(resp.status, status, text);
  assert.match(resp.headers.get("content-type") ?? "", /application\/json/);
  return JSON.parse(text);
}

/** Asserts an error response: status, JSON `{error: "<message>", code}`. */
export async function expectError(resp, status, code) {
  const body = await expectJson(resp, status);
  assert.equal(body.code, code, JSON.stringify(body));
  assert.equal(typeof body.error, "string", JSON.stringify(body));
  assert.ok(body.error.length > 10, body.error);
  return body;
}

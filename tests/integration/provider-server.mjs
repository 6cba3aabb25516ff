// A local HTTP server that stands in for an OpenAI-compatible provider
// (Together AI, OpenRouter, llama-server, Ollama): POST /v1/chat/completions
// with a bearer key. Like the real ones it answers 401 to a wrong key, a
// chat-completion object, or (with `stream: true`) `text/event-stream` whose
// events carry `choices[0].delta.content` and end with `data: [DONE]`. The
// test scripts each call: a status with headers (429 with Retry-After, 500),
// a hang, or a malformed body. Every request is recorded (path, headers, body).
import { createServer } from "node:http";

export const PROVIDER_KEY = "sk-test-SECRET-KEY-0123";

export const reply = {
  /** A whole chat completion. */
  answer: (content, extra = {}) => ({
    status: 200,
    json: {
      id: "chatcmpl-1",
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 120, completion_tokens: 9 },
      ...extra,
    },
  }),
  /** Streamed: one event per piece, `gapMs` apart, then [DONE]. */
  stream: (pieces, gapMs = 0) => ({ status: 200, sse: pieces, gapMs }),
  /** Streamed, then a failure inside the stream, as OpenRouter reports one; each event `gapMs` apart. */
  streamError: (pieces, gapMs = 0) => ({ status: 200, sse: pieces, gapMs, error: true }),
  status: (status, headers = {}, body = { error: { message: "UPSTREAM-SECRET-TEXT" } }) => ({ status, headers, json: body }),
  malformed: () => ({ status: 200, raw: '{"choices": [{"message": ' }),
  hang: () => ({ hang: true }),
};

export async function startProvider() {
  const requests = [];
  let script = [];
  const sockets = new Set();
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    let parsed = null;
    try {
      parsed = JSON.parse(body);
    } catch {}
    requests.push({ method: req.method, path: req.url, headers: req.headers, body: parsed, at: Date.now() });
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":{"message":"not found"}}');
      return;
    }
    if (req.headers.authorization !== `Bearer ${PROVIDER_KEY}`) {
      res.writeHead(401, { "Content-Type": "application/json" }).end('{"error":{"message":"Invalid API key UPSTREAM-SECRET-TEXT"}}');
      return;
    }
    const step = script.length > 1 ? script.shift() : script[0] ?? reply.answer("Thanks for the tip!");
    if (step.hang) return; // never answers
    if (step.raw !== undefined) {
      res.writeHead(step.status, { "Content-Type": "application/json" }).end(step.raw);
      return;
    }
    if (step.sse) {
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      const event = (delta, finish = null) =>
        `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(event({ role: "assistant", content: "" }));
      for (const piece of step.sse) {
        if (step.gapMs) await new Promise((r) => setTimeout(r, step.gapMs));
        res.write(event({ content: piece }));
      }
      if (step.error) {
        if (step.gapMs) await new Promise((r) => setTimeout(r, step.gapMs));
        res.end(`data: ${JSON.stringify({ error: { message: "UPSTREAM-SECRET-TEXT" }, choices: [{ index: 0, delta: { content: "" }, finish_reason: "error" }] })}\n\n`);
        return;
      }
      res.write(event({}, "stop"));
      res.end("data: [DONE]\n\n");
      return;
    }
    res.writeHead(step.status, { "Content-Type": "application/json", ...(step.headers ?? {}) }).end(JSON.stringify(step.json));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    /** Steps for the next calls, in order; the last one repeats. */
    script(...steps) {
      script = steps;
    },
    reset() {
      requests.length = 0;
      script = [];
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

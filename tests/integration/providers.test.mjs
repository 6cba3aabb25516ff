// OpenAI-compatible providers end to end: the Worker in workerd calls a real
// local HTTP server that speaks the protocol (tests/integration/provider-server.mjs).
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { EXAMPLE, expectError as error, expectJson, startWorker, step } from "./harness.mjs";
import { PROVIDER_KEY, reply, startProvider } from "./provider-server.mjs";

const LOCAL = "openai:local-llama";
const BACKUP = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
const BODY = { ...EXAMPLE, aimodel: LOCAL };

/** Reads an event stream whole: [{event, data}]. */
async function events(resp) {
  const text = await resp.text();
  return text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((block) => {
      const event = block.match(/^event: (.*)$/m)[1];
      const data = JSON.parse(block.match(/^data: (.*)$/m)[1]);
      return { event, data };
    });
}

describe("an OpenAI-compatible provider", () => {
  let w;
  let p;
  before(async () => {
    p = await startProvider();
    w = await startWorker({
      vars: {
        OPENAI_COMPAT_BASE_URL: p.baseUrl,
        OPENAI_COMPAT_API_KEY: PROVIDER_KEY,
        OPENAI_COMPAT_MODELS: "local-llama",
        FALLBACK_MODELS: BACKUP,
        MODEL_TIMEOUT_MS: "1500",
      },
    });
  });
  after(async () => {
    await w.dispose();
    await p.close();
  });
  beforeEach(() => {
    w.sim.reset();
    p.reset();
    w.logs.length = 0;
  });

  /** No key and no upstream text in what the client got or the operator's log. */
  function assertNoLeak(text) {
    for (const secret of [PROVIDER_KEY, "UPSTREAM-SECRET-TEXT"]) {
      assert.ok(!text.includes(secret), `leaked ${secret}`);
      assert.ok(!w.logs.join("").includes(secret), `the log leaked ${secret}`);
    }
  }

  test("a normal answer: what the Worker sent and what the client got", async () => {
    p.script(reply.answer('{"action": "say", "content": "Thank you User456 for the 50 tokens!"}'));
    const resp = await w.post("/api/generate-prompt", { ...BODY, options: { temperature: 0.9, top_k: 5 } });
    const text = await resp.clone().text();
    const body = await expectJson(resp);
    assert.deepEqual(
      { content: body.content, model: body.model, fallback: body.fallback, usage: body.usage },
      {
        content: "Thank you User456 for the 50 tokens!",
        model: LOCAL,
        fallback: false,
        usage: { prompt_tokens: 120, completion_tokens: 9 },
      },
    );
    assert.equal(p.requests.length, 1);
    const sent = p.requests[0];
    assert.equal(sent.path, "/v1/chat/completions");
    assert.equal(sent.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.match(sent.headers["content-type"], /application\/json/);
    assert.equal(sent.body.model, "local-llama", "the provider's own model name, without the prefix");
    assert.deepEqual(sent.body.messages.map((m) => m.role), ["system", "user"]);
    assert.equal(sent.body.temperature, 0.9);
    assert.equal(sent.body.max_tokens, 96);
    assert.equal(sent.body.top_k, undefined, "an option the protocol lacks is not sent");
    assert.equal(sent.body.stream, undefined);
    assert.equal(w.sim.calls.length, 0, "Workers AI was not called");
    assertNoLeak(text);
  });

  test("GET /api/models lists the provider's models; an unconfigured provider's model is unknown", async () => {
    const list = await expectJson(await w.fetch("/api/models", { headers: { Authorization: "Bearer test-token-0123456789abcdef" } }));
    const local = list.models.find((m) => m.id === LOCAL);
    assert.equal(local.provider, "openai");
    assert.equal(list.models.find((m) => m.id === BACKUP)?.provider ?? "workers-ai", "workers-ai");
    assert.ok(!list.models.some((m) => m.id.startsWith("together:")));
    await error(await w.post("/api/generate-prompt", { ...BODY, aimodel: "together:meta-llama/Llama-3.3-70B" }), 400, "unknown_model");
  });

  test("a streamed answer in OpenAI's SSE format is read whole, then sent as one delta and a final done", async () => {
    p.script(reply.stream(["Thank", " you", " User456", " for the", " 50 tokens,", " legend!"], 20));
    const resp = await w.post("/api/generate-prompt", { ...BODY, stream: true });
    assert.match(resp.headers.get("content-type"), /text\/event-stream/);
    const evs = await events(resp.clone());
    assertNoLeak(await resp.text());
    const done = evs.at(-1);
    assert.equal(done.event, "done");
    assert.equal(done.data.model, LOCAL);
    assert.equal(done.data.content, "Thank you User456 for the 50 tokens, legend!");
    const deltas = evs.filter((e) => e.event === "delta").map((e) => e.data.text);
    assert.deepEqual(deltas, [done.data.content], JSON.stringify(evs));
    assert.equal(p.requests[0].body.stream, true);
    assert.equal(p.requests[0].headers.accept, "text/event-stream");
  });

  test("401: the provider is misconfigured; the fallback answers and nothing leaks", async () => {
    p.script(reply.status(401, {}, { error: { message: "Invalid key UPSTREAM-SECRET-TEXT" } }));
    w.sim.script(BACKUP, step.answer("Thank you User456 for the 50 tokens!"));
    const resp = await w.post("/api/generate-prompt", BODY);
    const text = await resp.clone().text();
    const body = await expectJson(resp);
    assert.deepEqual([body.model, body.fallback], [BACKUP, true]);
    assert.equal(p.requests.length, 1, "a refused key is not retried");
    assert.ok(w.logs.join("").includes('"status":401'), "the operator sees the status");
    assertNoLeak(text);
  });

  test("429 with Retry-After is retried after it; then the answer", async () => {
    p.script(reply.status(429, { "Retry-After": "1" }), reply.answer("Thank you User456 for the tip!"));
    const resp = await w.post("/api/generate-prompt", BODY);
    const text = await resp.clone().text();
    const body = await expectJson(resp);
    assert.equal(body.model, LOCAL);
    assert.equal(p.requests.length, 2);
    assert.ok(p.requests[1].at - p.requests[0].at >= 950, "the retry waited for Retry-After, not a short backoff");
    assertNoLeak(text);
  });

  test("a Retry-After longer than the deadline allows is not waited for: the next model answers", async () => {
    p.script(reply.status(429, { "Retry-After": "60" }));
    w.sim.script(BACKUP, step.answer("Thank you User456 for the 50 tokens!"));
    const body = await expectJson(await w.post("/api/generate-prompt", BODY));
    assert.deepEqual([body.model, p.requests.length], [BACKUP, 1]);
  });

  test("a failure reported inside the stream sends nothing of it: the fallback answers, without upstream text", async () => {
    p.script(reply.streamError(["Thank", " you", " User456", " for the"]));
    w.sim.script(BACKUP, step.answer("Thank you User456 for the 50 tokens!"));
    const resp = await w.post("/api/generate-prompt", { ...BODY, stream: true });
    const text = await resp.clone().text();
    const evs = await events(resp);
    assert.deepEqual(evs.map((e) => e.event), ["delta", "done"]);
    assert.equal(evs.at(-1).data.model, BACKUP);
    assertNoLeak(text);
  });

  test("500 is retried with backoff, then the chain moves on", async () => {
    p.script(reply.status(500));
    w.sim.script(BACKUP, step.answer("Thank you User456 for the 50 tokens!"));
    const resp = await w.post("/api/generate-prompt", BODY);
    const text = await resp.clone().text();
    const body = await expectJson(resp);
    assert.equal(body.model, BACKUP);
    assert.ok(p.requests.length >= 2, `retried: ${p.requests.length} calls`);
    assertNoLeak(text);
  });

  test("a hang is cut off at the model timeout and the chain moves on", async () => {
    p.script(reply.hang());
    w.sim.script(BACKUP, step.answer("Thank you User456 for the 50 tokens!"));
    const body = await expectJson(await w.post("/api/generate-prompt", BODY));
    assert.equal(body.model, BACKUP);
  });

  test("malformed JSON moves on", async () => {
    p.script(reply.malformed());
    w.sim.script(BACKUP, step.answer("Thank you User456 for the 50 tokens!"));
    const resp = await w.post("/api/generate-prompt", BODY);
    assertNoLeak(await resp.clone().text());
    const body = await expectJson(resp);
    assert.equal(body.model, BACKUP);
    assert.equal(p.requests.length, 1);
  });
});

describe("a provider without its key", () => {
  test("is unavailable: not listed, its model unknown, the problem reported", async () => {
    const w = await startWorker({ vars: { TOGETHER_MODELS: "meta-llama/Llama-3.3-70B-Instruct-Turbo" } });
    try {
      const list = await expectJson(await w.fetch("/api/models", { headers: { Authorization: "Bearer test-token-0123456789abcdef" } }));
      assert.ok(!list.models.some((m) => m.provider === "together"));
      assert.ok(list.problems.some((p) => p.includes("TOGETHER_API_KEY")), JSON.stringify(list.problems));
      await error(
        await w.post("/api/generate-prompt", { ...EXAMPLE, aimodel: "together:meta-llama/Llama-3.3-70B-Instruct-Turbo" }),
        400,
        "unknown_model",
      );
    } finally {
      await w.dispose();
    }
  });
});

describe("a provider whose models take JSON mode", () => {
  test("response_format is sent, and a provider refusing it is asked once more without it", async () => {
    const p = await startProvider();
    const w = await startWorker({
      vars: {
        OPENAI_COMPAT_BASE_URL: p.baseUrl,
        OPENAI_COMPAT_API_KEY: PROVIDER_KEY,
        OPENAI_COMPAT_MODELS: "local-llama",
        OPENAI_COMPAT_JSON_MODE: "true",
      },
    });
    try {
      p.script(reply.answer('{"action": "say", "content": "Thank you User456 for the 50 tokens!"}'));
      const body = await expectJson(await w.post("/api/generate-prompt", BODY));
      assert.equal(body.model, LOCAL);
      assert.deepEqual(p.requests[0].body.response_format, { type: "json_object" });
      const list = await expectJson(await w.fetch("/api/models", { headers: { Authorization: "Bearer test-token-0123456789abcdef" } }));
      assert.equal(list.models.find((m) => m.id === LOCAL).json_mode, true);

      p.reset();
      p.script(reply.status(400), reply.answer("Thank you User456 for the 50 tokens!"));
      const again = await expectJson(await w.post("/api/generate-prompt", BODY));
      assert.equal(again.model, LOCAL);
      assert.equal(p.requests.length, 2);
      assert.deepEqual(p.requests[0].body.response_format, { type: "json_object" });
      assert.equal(p.requests[1].body.response_format, undefined, "the second call is plain");
    } finally {
      await w.dispose();
      await p.close();
    }
  });
});

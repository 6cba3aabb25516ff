// Models: the registry, generation options, JSON mode, retries and fallback
// that always answer, with the simulated AI binding.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { EXAMPLE, TOKEN, expectJson as json, startWorker, step } from "./harness.mjs";

const DEFAULT = "@cf/meta/llama-3.1-8b-instruct-fast";
const BACKUP = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
const QWEN = "@cf/qwen/qwen1.5-14b-chat-awq";
const REQUIRED = [
  BACKUP,
  DEFAULT,
  "@cf/meta/llama-4-scout-17b-16e-instruct",
  "@cf/mistral/mistral-7b-instruct-v0.2",
  "@hf/mistral/mistral-7b-instruct-v0.2",
  QWEN,
];
const CAPACITY = "3040: Capacity temporarily exceeded, please try again.";
const body = (extra = {}) => ({ ...EXAMPLE, aimodel: undefined, ...extra });

describe("the model registry", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("GET /api/models lists ids, aliases, streaming, JSON mode and the default", async () => {
    const list = await json(await w.fetch("/api/models", { headers: { Authorization: `Bearer ${TOKEN}` } }));
    const ids = list.models.map((m) => m.id);
    for (const id of REQUIRED) assert.ok(ids.includes(id), id);
    for (const m of list.models) {
      assert.equal(typeof m.alias, "string");
      assert.equal(typeof m.streams, "boolean");
      assert.equal(typeof m.json_mode, "boolean");
    }
    assert.deepEqual(list.models.filter((m) => m.default).map((m) => m.id), [DEFAULT]);
    assert.equal(list.default, DEFAULT);
  });

  test("GET /api/models needs a token", async () => {
    assert.equal((await w.fetch("/api/models")).status, 401);
  });

  test("aimodel takes an alias", async () => {
    w.sim.script(QWEN, step.answer("Hi from qwen"));
    const answer = await json(await w.post("/api/generate-prompt", body({ aimodel: "qwen1.5-14b" })));
    assert.equal(answer.model, QWEN);
    assert.equal(w.sim.calls[0].model, QWEN);
  });

  test("a model not allowed is 400 unknown_model pointing to /api/models, with no model call", async () => {
    const err = await json(await w.post("/api/generate-prompt", body({ aimodel: "@cf/openai/gpt-oss-120b" })), 400);
    assert.equal(err.error.code, "unknown_model");
    assert.match(err.error.message, /\/api\/models/);
    assert.equal(w.sim.calls.length, 0);
  });
});

describe("ALLOWED_MODELS", () => {
  let w;
  before(async () => (w = await startWorker({ vars: { ALLOWED_MODELS: "llama-3.3-70b,@cf/google/gemma-7b-it=gemma" } })));
  after(() => w.dispose());

  test("narrows and extends the list", async () => {
    const list = await json(await w.fetch("/api/models", { headers: { Authorization: `Bearer ${TOKEN}` } }));
    assert.deepEqual(list.models.map((m) => m.id), [BACKUP, "@cf/google/gemma-7b-it", DEFAULT]);
    const err = await json(await w.post("/api/generate-prompt", body({ aimodel: QWEN })), 400);
    assert.equal(err.error.code, "unknown_model");
    w.sim.script("@cf/google/gemma-7b-it", step.answer("From gemma"));
    assert.equal((await json(await w.post("/api/generate-prompt", body({ aimodel: "gemma" })))).model, "@cf/google/gemma-7b-it");
  });
});

describe("generation options and structured output", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("valid options reach the model under Workers AI names; defaults are short", async () => {
    const options = {
      temperature: 0.2, max_tokens: 40, top_p: 0.9, top_k: 5, repetition_penalty: 1.1,
      presence_penalty: -0.5, frequency_penalty: 0.5, seed: 42,
    };
    await json(await w.post("/api/generate-prompt", body({ options })));
    const { input } = w.sim.calls[0];
    for (const [k, v] of Object.entries(options)) assert.equal(input[k], v, k);
    await json(await w.post("/api/generate-prompt", body()));
    assert.ok(w.sim.calls[1].input.max_tokens <= 128);
  });

  const bad = [
    ["temperature", 5.1], ["temperature", -0.1], ["max_tokens", 0], ["max_tokens", 1025], ["max_tokens", 2.5],
    ["top_p", 1.5], ["top_k", 0], ["top_k", 101], ["repetition_penalty", 2.1], ["presence_penalty", -2.1],
    ["frequency_penalty", 2.1], ["seed", -1], ["seed", "42"], ["temperature", "hot"],
  ];
  for (const [name, value] of bad) {
    test(`options.${name} = ${JSON.stringify(value)} is 400 naming the option`, async () => {
      const err = await json(await w.post("/api/generate-prompt", body({ options: { [name]: value } })), 400);
      assert.equal(err.error.code, "invalid_request");
      assert.ok(err.error.message.includes(`options.${name}`), err.error.message);
      assert.equal(w.sim.calls.length, 0);
    });
  }

  test("JSON-mode models are asked with a json_schema and may answer with an object", async () => {
    w.sim.script(DEFAULT, step.answer({ action: "do", content: "Raise a toast to Max" }, { usage: { prompt_tokens: 321, completion_tokens: 12 }, finish_reason: "stop" }));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.action, answer.content], ["do", "Raise a toast to Max"]);
    assert.deepEqual(answer.usage, { prompt_tokens: 321, completion_tokens: 12 });
    assert.equal(answer.finish_reason, "stop");
    const format = w.sim.calls[0].input.response_format;
    assert.equal(format.type, "json_schema");
    assert.deepEqual(format.json_schema.properties.action.enum, ["say", "do", "wait"]);
    assert.equal(format.json_schema.properties.content.type, "string");
  });

  test("JSON-mode models may answer with a string", async () => {
    w.sim.script(DEFAULT, step.answer('{"action":"say","content":"String from JSON mode"}'));
    assert.equal((await json(await w.post("/api/generate-prompt", body()))).content, "String from JSON mode");
  });

  test("other models keep the prompt-and-parser path", async () => {
    w.sim.script(QWEN, step.answer("Sure! Say: Thanks Max!"));
    const answer = await json(await w.post("/api/generate-prompt", body({ aimodel: QWEN })));
    assert.equal(answer.content, "Thanks Max!");
    assert.equal(w.sim.calls[0].input.response_format, undefined);
  });
});

describe("always an answer", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("capacity errors that clear after two tries", async () => {
    w.sim.script(DEFAULT, step.error(CAPACITY), step.error(CAPACITY), step.answer("Third time lucky"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.content, answer.model, answer.fallback], ["Third time lucky", DEFAULT, false]);
    assert.equal(w.sim.callsTo(DEFAULT).length, 3);
    assert.equal(w.sim.callsTo(BACKUP).length, 0);
  });

  test("errors that never clear: the fallback model answers", async () => {
    w.sim.script(DEFAULT, step.error(CAPACITY));
    w.sim.script(BACKUP, step.answer("Backup here"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.content, answer.model, answer.fallback], ["Backup here", BACKUP, true]);
    assert.equal(w.sim.callsTo(DEFAULT).length, 3, "1 try + MODEL_RETRIES=2");
  });

  test("errors that never clear anywhere: the rules coach answers, marked fallback", async () => {
    w.sim.script("*", step.error(CAPACITY));
    const resp = await w.post("/api/generate-prompt", body());
    const text = await resp.clone().text();
    const answer = await json(resp);
    assert.deepEqual([answer.model, answer.fallback, answer.action], ["rules", true, "say"]);
    assert.match(answer.content, /User 456/);
    assert.doesNotMatch(text, /3040|Capacity/);
  });

  for (const message of ["5007: No such model", "5006: Invalid input", "3036: Account limited"]) {
    test(`permanent "${message}" is called exactly once per model`, async () => {
      w.sim.script("*", step.error(message));
      const answer = await json(await w.post("/api/generate-prompt", body()));
      assert.equal(answer.model, "rules");
      assert.equal(w.sim.callsTo(DEFAULT).length, 1);
      assert.equal(w.sim.callsTo(BACKUP).length, 1);
    });
  }

  test("a hanging model is cut off inside the deadline", async () => {
    w.sim.script("*", step.hang());
    const started = Date.now();
    const answer = await json(await w.post("/api/generate-prompt", body()));
    const elapsed = Date.now() - started;
    assert.deepEqual([answer.model, answer.fallback], ["rules", true]);
    // REQUEST_DEADLINE_MS is 4000 in the harness; the contract bound is 15 s.
    assert.ok(elapsed < 8000, `answered after ${elapsed} ms`);
    assert.equal(w.sim.callsTo(DEFAULT).length, 1, "a hung model is not retried");
    assert.equal(w.sim.callsTo(BACKUP).length, 1, "the fallback model got its turn");
  });

  test("a hanging primary leaves time for the fallback model", async () => {
    w.sim.script(DEFAULT, step.hang());
    w.sim.script(BACKUP, step.answer("Backup after a hang"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.content, answer.model, answer.fallback], ["Backup after a hang", BACKUP, true]);
  });

  test("a streamed (SSE) answer with usage", async () => {
    w.sim.script(DEFAULT, step.sse([
      'data: {"response":"Thanks "}\n\n',
      'data: {"response":"Max!"}\n\n',
      'data: {"response":"","usage":{"prompt_tokens":10,"completion_tokens":3}}\n\n',
      "data: [DONE]\n\n",
    ]));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.equal(answer.content, "Thanks Max!");
    assert.deepEqual(answer.usage, { prompt_tokens: 10, completion_tokens: 3 });
  });
});

// Models: the catalog-backed registry, per-model options, JSON mode only where
// published, retired ids served by a successor, retries by the published error
// table and a fallback chain that always answers, against a stand-in that
// refuses what Workers AI refuses.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { CATALOG, EXAMPLE, TOKEN, expectJson as json, isRetired, startWorker, step } from "./harness.mjs";

const DEFAULT = "@cf/meta/llama-3.1-8b-instruct-fast";
const BACKUP = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
const MISTRAL_HF = "@hf/mistral/mistral-7b-instruct-v0.2";
const CAPACITY = "3040: Capacity temporarily exceeded, please try again.";
const body = (extra = {}) => ({ ...EXAMPLE, aimodel: undefined, ...extra });
const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };

/** The model settings of the shipped wrangler.toml ([vars]). */
function shippedModelVars() {
  const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
  const vars = {};
  for (const name of ["DEFAULT_MODEL", "FALLBACK_MODELS", "ALLOWED_MODELS", "MODEL_SUCCESSORS"]) {
    const m = toml.match(new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m"));
    vars[name] = m ? m[1] : undefined;
  }
  return vars;
}

describe("with the shipped wrangler.toml", () => {
  let w;
  before(async () => (w = await startWorker({ vars: shippedModelVars() })));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("its model settings have no problems and every model is catalogued and active", async () => {
    const list = await json(await w.fetch("/api/models", auth));
    assert.deepEqual(list.problems, []);
    for (const id of [list.default, ...list.fallbacks, ...list.models.map((m) => m.id)]) {
      const entry = CATALOG.models.find((m) => m.id === id);
      assert.ok(entry, `${id} is catalogued`);
      assert.ok(!isRetired(entry), `${id} is active`);
    }
    assert.match(list.catalog.json_mode, /json-mode\.mdx/);
    assert.ok(list.catalog.read_on);
  });

  test("an ordinary request makes exactly one model call and says fallback: false", async () => {
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.equal(answer.fallback, false);
    assert.equal(w.sim.calls.length, 1);
    assert.deepEqual(w.sim.refused, []);
  });

  test("every model GET /api/models offers answers with one call and no refused call", async () => {
    const list = await json(await w.fetch("/api/models", auth));
    assert.ok(list.models.length >= 5);
    for (const m of list.models) {
      w.sim.reset();
      const answer = await json(await w.post("/api/generate-prompt", body({ aimodel: m.id })));
      assert.deepEqual([answer.model, answer.fallback, answer.content], [m.id, false, "Hi everyone, an unscripted answer!"], m.id);
      assert.equal(w.sim.calls.length, 1, m.id);
      assert.deepEqual(w.sim.refused, [], m.id);
      const asked = w.sim.calls[0].input;
      assert.equal(asked.response_format !== undefined, m.json_mode, `${m.id} JSON mode as published`);
    }
  });

  test("the frontend's retired @hf/mistral model is answered by its successor, never called", async () => {
    const answer = await json(await w.post("/api/generate-prompt", { ...EXAMPLE }));
    assert.equal(answer.retired_model, MISTRAL_HF);
    assert.notEqual(answer.model, MISTRAL_HF);
    assert.equal(answer.fallback, false);
    assert.deepEqual(w.sim.calls.map((c) => c.model), [answer.model]);
  });

  test("when every model is out of capacity the chain calls only catalogued, active models, then the rules coach answers", async () => {
    w.sim.script("*", step.error(CAPACITY));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.model, answer.fallback], ["rules", true]);
    assert.ok(w.sim.calls.length >= 2);
    assert.deepEqual(w.sim.refused, []);
    for (const c of w.sim.calls) {
      const entry = CATALOG.models.find((m) => m.id === c.model);
      assert.ok(entry && !isRetired(entry), c.model);
    }
  });
});

describe("the stand-in refuses what Workers AI refuses", () => {
  let w;
  before(async () => (w = await startWorker({ vars: { ALLOWED_MODELS: "*,@cf/meta/llama-3.1-8b-instruct-fast" } })));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("a configured retired or unknown model is reported, not called", async () => {
    const w2 = await startWorker({
      vars: {
        DEFAULT_MODEL: MISTRAL_HF,
        FALLBACK_MODELS: `${BACKUP},@cf/mistral/mistral-7b-instruct-v0.2,@cf/qwen/qwen1.5-14b-chat-awq`,
        ALLOWED_MODELS: "gpt-4,llama-3.3-70b",
      },
    });
    try {
      const list = await json(await w2.fetch("/api/models", auth));
      const problems = list.problems.join("\n");
      for (const bad of [MISTRAL_HF, "@cf/mistral/mistral-7b-instruct-v0.2", "@cf/qwen/qwen1.5-14b-chat-awq", "gpt-4"]) {
        assert.ok(problems.includes(bad), `${bad} reported: ${problems}`);
      }
      assert.deepEqual(list.fallbacks, [BACKUP]);
      w2.sim.script("*", step.error(CAPACITY));
      await json(await w2.post("/api/generate-prompt", body()));
      assert.deepEqual(w2.sim.refused, []);
      assert.ok(w2.sim.calls.every((c) => c.model !== MISTRAL_HF && !c.model.startsWith("@cf/mistral/")));
      const logged = w2.logs.join("");
      assert.equal(logged.split("model_config_problems").length - 1, 1, "reported once");
    } finally {
      await w2.dispose();
    }
  });
});

describe("the model registry", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("GET /api/models lists ids, aliases, JSON mode, context windows, option ranges and the default", async () => {
    const list = await json(await w.fetch("/api/models", auth));
    for (const m of list.models) {
      assert.equal(typeof m.alias, "string");
      assert.equal(typeof m.json_mode, "boolean");
      assert.equal(typeof m.options, "object");
      assert.equal(m.streams, CATALOG.models.find((c) => c.id === m.id).streams, `${m.id} streams as published`);
    }
    assert.deepEqual(list.models.filter((m) => m.default).map((m) => m.id), [DEFAULT]);
    assert.equal(list.default, DEFAULT);
    assert.equal(list.models.find((m) => m.id === BACKUP).json_mode, true);
    assert.equal(list.models.find((m) => m.id === DEFAULT).json_mode, false);
  });

  test("GET /api/models needs a token", async () => {
    assert.equal((await w.fetch("/api/models")).status, 401);
  });

  test("aimodel takes an alias", async () => {
    w.sim.script(BACKUP, step.answer({ action: "say", content: "Hi from the 70B" }));
    const answer = await json(await w.post("/api/generate-prompt", body({ aimodel: "llama-3.3-70b" })));
    assert.equal(answer.model, BACKUP);
    assert.deepEqual(w.sim.calls.map((c) => c.model), [BACKUP]);
  });

  test("a model not offered is 400 unknown_model pointing to /api/models, with no model call", async () => {
    for (const aimodel of ["@cf/openai/gpt-oss-120b", "@cf/mistral/mistral-7b-instruct-v0.2", "gpt-4"]) {
      const err = await json(await w.post("/api/generate-prompt", body({ aimodel })), 400);
      assert.equal(err.code, "unknown_model");
      assert.match(err.error, /\/api\/models/);
    }
    assert.equal(w.sim.calls.length, 0);
  });

  test("MODEL_SUCCESSORS picks what serves a retired id", async () => {
    const w2 = await startWorker({ vars: { MODEL_SUCCESSORS: `${MISTRAL_HF}=llama-3.3-70b` } });
    try {
      const answer = await json(await w2.post("/api/generate-prompt", { ...EXAMPLE }));
      assert.deepEqual([answer.model, answer.retired_model], [BACKUP, MISTRAL_HF]);
      assert.deepEqual(w2.sim.calls.map((c) => c.model), [BACKUP]);
    } finally {
      await w2.dispose();
    }
  });
});

describe("generation options per model", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("valid options reach the model under Workers AI names; defaults are short", async () => {
    const options = { temperature: 0.2, max_tokens: 40, top_p: 0.9, top_k: 5, repetition_penalty: 1.1, seed: 42 };
    await json(await w.post("/api/generate-prompt", body({ options })));
    const { input } = w.sim.calls[0];
    for (const [k, v] of Object.entries(options)) assert.equal(input[k], v, k);
    await json(await w.post("/api/generate-prompt", body()));
    assert.ok(w.sim.calls[1].input.max_tokens <= 128);
  });

  const published = CATALOG.models.find((m) => m.id === DEFAULT).options;
  const bad = [
    ["temperature", published.temperature.max + 0.1],
    ["top_p", published.top_p.max + 0.5],
    ["top_k", published.top_k.max + 1],
    ["max_tokens", 0],
    ["max_tokens", 1025],
    ["max_tokens", 2.5],
    ["seed", -1],
    ["seed", "42"],
    ["temperature", "hot"],
  ];
  for (const [name, value] of bad) {
    test(`options.${name} = ${JSON.stringify(value)} is 400 naming the option`, async () => {
      const err = await json(await w.post("/api/generate-prompt", body({ options: { [name]: value } })), 400);
      assert.equal(err.code, "invalid_request");
      assert.ok(err.error.includes(`options.${name}`), err.error);
      assert.equal(w.sim.calls.length, 0);
    });
  }

  test("a value outside the chosen model's range names the model and its published range", async () => {
    const err = await json(
      await w.post("/api/generate-prompt", body({ aimodel: "llama-3.3-70b", options: { top_p: 0 } })),
      400,
    );
    assert.match(err.error, /options\.top_p/);
    assert.match(err.error, new RegExp(BACKUP.replace(/[.]/g, "\\.")));
    assert.match(err.error, /from 0\.001 to 1/);
  });

  test("a fallback model is sent the options fitted to its own ranges, never refused", async () => {
    w.sim.script(DEFAULT, step.error(CAPACITY));
    w.sim.script(BACKUP, step.answer({ action: "say", content: "Backup here, hi everyone!" }));
    const answer = await json(await w.post("/api/generate-prompt", body({ options: { top_p: 0, top_k: 5 } })));
    assert.equal(answer.model, BACKUP);
    assert.deepEqual(w.sim.refused, []);
  });

  test("JSON mode: asked with a json_schema only of models that have it, and they may answer with an object", async () => {
    w.sim.script(BACKUP, step.answer({ action: "do", content: "Raise a toast to chat" }, { usage: { prompt_tokens: 321, completion_tokens: 12 }, finish_reason: "stop" }));
    const answer = await json(await w.post("/api/generate-prompt", body({ aimodel: BACKUP })));
    assert.deepEqual([answer.action, answer.content], ["do", "Raise a toast to chat"]);
    assert.deepEqual(answer.usage, { prompt_tokens: 321, completion_tokens: 12 });
    const format = w.sim.calls[0].input.response_format;
    assert.equal(format.type, "json_schema");
    assert.deepEqual(format.json_schema.properties.action.enum, ["say", "do"]);
  });

  test("JSON mode couldn't be met: one immediate call of the same model without it", async () => {
    w.sim.script(BACKUP, step.error("JSON Mode couldn't be met"), step.answer("Thanks for the tip!"));
    const answer = await json(await w.post("/api/generate-prompt", body({ aimodel: BACKUP })));
    assert.deepEqual([answer.model, answer.content, answer.fallback], [BACKUP, "Thanks for the tip!", false]);
    assert.equal(w.sim.calls.length, 2);
    assert.ok(w.sim.calls[0].input.response_format);
    assert.equal(w.sim.calls[1].input.response_format, undefined);
  });

  test("other models get the format in the prompt; a suggestion after a preamble is not cut out of it", async () => {
    w.sim.script(DEFAULT, step.answer("Sure! Say: Thanks for the tip!"), step.answer("Thanks for the tip!"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.model, answer.content], [DEFAULT, "Thanks for the tip!"]);
    assert.equal(w.sim.callsTo(DEFAULT).length, 2, "asked again once");
    assert.equal(w.sim.calls[0].input.response_format, undefined);
  });

  test("chat-completions models: content is read, reasoning never spoken", async () => {
    const glm = "@cf/zai-org/glm-4.7-flash";
    w.sim.script(glm, step.object({ choices: [{ message: { content: "<think>Max tipped so thank him</think>Thanks for the tip!", reasoning_content: "secret" }, finish_reason: "stop" }] }));
    const answer = await json(await w.post("/api/generate-prompt", body({ aimodel: glm })));
    assert.deepEqual([answer.model, answer.content], [glm, "Thanks for the tip!"]);
  });
});

describe("always an answer", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test("capacity errors that clear after two tries", async () => {
    w.sim.script(DEFAULT, step.error(CAPACITY), step.error(CAPACITY), step.answer("Third time lucky, hi everyone!"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.content, answer.model, answer.fallback], ["Third time lucky, hi everyone!", DEFAULT, false]);
    assert.equal(w.sim.callsTo(DEFAULT).length, 3);
    assert.equal(w.sim.callsTo(BACKUP).length, 0);
  });

  test("errors that never clear: the fallback model answers", async () => {
    w.sim.script(DEFAULT, step.error(CAPACITY));
    w.sim.script(BACKUP, step.answer("Backup here, hi everyone!"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.content, answer.model, answer.fallback], ["Backup here, hi everyone!", BACKUP, true]);
    assert.equal(w.sim.callsTo(DEFAULT).length, 3, "1 try + MODEL_RETRIES=2");
  });

  test("errors that never clear anywhere: the rules coach answers, marked fallback", async () => {
    w.sim.script("*", step.error(CAPACITY));
    const resp = await w.post("/api/generate-prompt", body());
    const text = await resp.clone().text();
    const answer = await json(resp);
    assert.deepEqual([answer.model, answer.fallback, answer.action], ["rules", true, "say"]);
    assert.match(answer.content, /friend.*50 tokens|50 tokens.*friend/i);
    assert.doesNotMatch(text, /3040|Capacity/);
  });

  for (const message of ["5007: No such model", "5004: Invalid data", "3006: Request is too large"]) {
    test(`permanent "${message}" is called exactly once per model`, async () => {
      w.sim.script("*", step.error(message));
      const answer = await json(await w.post("/api/generate-prompt", body()));
      assert.equal(answer.model, "rules");
      assert.equal(w.sim.callsTo(DEFAULT).length, 1);
      assert.equal(w.sim.callsTo(BACKUP).length, 1);
    });
  }

  test("an account refusal (3036 daily allocation, 5035 paid plan) stops calling Workers AI", async () => {
    for (const message of ["3036: You have used up your daily free allocation of 10,000 neurons.", "5035: upgrade"]) {
      w.sim.reset();
      w.sim.script("*", step.error(message));
      const answer = await json(await w.post("/api/generate-prompt", body()));
      assert.equal(answer.model, "rules");
      assert.deepEqual(w.sim.calls.map((c) => c.model), [DEFAULT], message);
    }
  });

  test("an error outside the published table is retried at most once; a number in its text is no code", async () => {
    w.sim.script("*", step.error("upstream failed after 3040 ms"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.equal(answer.model, "rules");
    assert.equal(w.sim.callsTo(DEFAULT).length, 2);
    assert.equal(w.sim.callsTo(BACKUP).length, 2);
  });

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
    w.sim.script(BACKUP, step.answer("Hi all, backup after a hang!"));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.deepEqual([answer.content, answer.model, answer.fallback], ["Hi all, backup after a hang!", BACKUP, true]);
  });

  test("a streamed (SSE) answer with usage", async () => {
    w.sim.script(DEFAULT, step.sse([
      'data: {"response":"Thanks for "}\n\n',
      'data: {"response":"the tip!"}\n\n',
      'data: {"response":"","usage":{"prompt_tokens":10,"completion_tokens":3}}\n\n',
      "data: [DONE]\n\n",
    ]));
    const answer = await json(await w.post("/api/generate-prompt", body()));
    assert.equal(answer.content, "Thanks for the tip!");
    assert.deepEqual(answer.usage, { prompt_tokens: 10, completion_tokens: 3 });
  });
});

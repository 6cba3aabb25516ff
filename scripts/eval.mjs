// The evaluation (`npm run eval`, `./scripts/eval`): N rooms in the coach
// frontend's own words, a third streamed, sent to the built Worker in front of
// a real small model (SmolLM2-135M-Instruct, tests/real-model/server.mjs) as
// its `openai:` provider. Prints the table docs/evaluation.md keeps (who
// answered, unfit answers spoken by kind, words, distinct answers, model
// time, time to the first streamed word) and writes every room, prompt and
// answer to test-output/eval.json for a person to read.
//
// Usage: node scripts/eval.mjs [--rooms N] [--seed S] [--build DIR] [--out FILE]
// (defaults: 48 rooms, seed 19, the work tree's build/, test-output/eval.json).
// `--build` runs another build of the Worker (a copy of an earlier build/,
// below this folder: Miniflare loads modules only from below the working
// directory), so a before and an after are measured on the same rooms.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { startWorker } from "../tests/integration/harness.mjs";
import { makeRooms, runRooms, summarize, table, workerVars } from "../tests/integration/real-rooms.mjs";
import { startModelServer } from "../tests/real-model/server.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const text = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const n = arg("rooms", 48);
const seed = arg("seed", 19);
const build = text("build", "build");
const out = text("out", "test-output/eval.json");

const started = Date.now();
const server = await startModelServer();
const worker = await startWorker({
  ai: false,
  scriptPath: `${build}/index.js`,
  state: true,
  vars: workerVars(server.baseUrl, server.model),
  ratelimits: { SESSION_KEY_LIMITER: { simple: { limit: 1000, period: 60 } } },
});
try {
  const rooms = makeRooms(n, seed, `openai:${server.model}`);
  const results = await runRooms(worker, server, rooms, {
    onResult: (r) => {
      const who = r.model === "rules" ? "rules" : r.model ? "model" : "none";
      const flag = r.kinds.length ? `  UNFIT: ${r.kinds.join(", ")}` : "";
      process.stderr.write(`[eval] room ${r.room.index}${r.stream ? " (stream)" : ""}: ${who} ${r.action ?? r.error}: ${JSON.stringify(r.spoken)}${flag}\n`);
    },
  });
  const summary = summarize(results);
  console.log(`## Evaluation: ${n} rooms (seed ${seed}), SmolLM2-135M-Instruct through openai:\n`);
  console.log(table(summary));
  console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        summary,
        rooms: results.map((r) => ({
          index: r.room.index,
          stream: r.stream,
          body: r.room.body,
          status: r.status,
          model: r.model,
          action: r.action,
          spoken: r.spoken,
          error: r.error,
          kinds: r.kinds,
          refusals: r.refusals,
          // Every call as the model answered it: the raw text, why it stopped, and what it was sent.
          calls: r.calls.map((c) => ({
            ms: c.ms,
            firstMs: c.firstMs,
            stream: c.stream,
            maxTokens: c.maxTokens,
            finish: c.finish,
            stopped: c.stopped,
            text: c.text,
            promptTokens: c.promptTokens,
            messages: c.messages,
          })),
          prompt: r.calls[0]?.messages ?? null,
        })),
      },
      null,
      1,
    ),
  );
  process.stderr.write(`[eval] every room, prompt and answer: ${out}\n`);
} finally {
  await worker.dispose();
  await server.close();
}

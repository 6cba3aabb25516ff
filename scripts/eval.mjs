// The evaluation (`npm run eval`, `./scripts/eval`): N rooms in the coach
// frontend's own words, a third streamed, sent to the built Worker in front of
// a real small model (SmolLM2-135M-Instruct, tests/real-model/server.mjs) as
// its `openai:` provider. Prints the table docs/evaluation.md keeps (who
// answered, the model's own lines that were fit by the labels' rules, unfit
// answers spoken by kind, what the Worker refused and why, words, model time,
// time to the first streamed word) and writes every room, prompt and every
// model call as the model wrote it to test-output/eval.json for a person to
// read. The model's lines a person has not labelled yet are listed at the
// end: tests/fixtures/labelled-answers.md says how the set grows.
//
// Usage: node scripts/eval.mjs [--rooms N] [--seed S] [--build DIR] [--out FILE]
//        node scripts/eval.mjs --rejudge FILE
// (defaults: 48 rooms, seed 19, the work tree's build/, test-output/eval.json).
// `--build` runs another build of the Worker (a copy of an earlier build/,
// below this folder: Miniflare loads modules only from below the working
// directory), so a before and an after are measured on the same rooms.
// `--rejudge` judges a record written earlier by today's rules and labels,
// and prints its table again.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { startWorker } from "../tests/integration/harness.mjs";
import {
  judge,
  loadLabels,
  makeRooms,
  runRooms,
  summarize,
  table,
  unwrapped,
  workerVars,
} from "../tests/integration/real-rooms.mjs";
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
const rejudge = text("rejudge", null);
const labels = loadLabels();

/** The lines of the model a person has not read yet, for the labelled set. */
function unread(summary) {
  if (!summary.ownUnread.length) return;
  process.stderr.write(`[eval] ${summary.ownUnread.length} of the model's lines are not in the labelled set yet:\n`);
  for (const u of summary.ownUnread) process.stderr.write(`[eval]   room ${u.room}: ${JSON.stringify(u.raw)}\n`);
}

if (rejudge) {
  const record = JSON.parse(readFileSync(rejudge, "utf8"));
  const rooms = record.rooms;
  const results = rooms.map((r, i) => {
    const result = {
      room: { index: r.index, stream: r.stream, body: r.body },
      stream: r.stream,
      status: r.status,
      model: r.model,
      action: r.action,
      spoken: r.spoken,
      error: r.error,
      refusals: r.refusals,
      calls: r.calls,
      withdrawn: r.withdrawn ?? (r.kinds ?? []).includes("withdrawn after speaking"),
      ms: r.ms ?? null,
      firstDeltaMs: r.firstDeltaMs ?? null,
    };
    // A record written before calls were counted where they started may hold a
    // room's last call in the next room: the line spoken is found by its words.
    if (r.model && r.model !== "rules" && r.model !== "none" && r.action !== "wait") {
      const spoken = (r.spoken ?? "").toLowerCase().match(/[a-z]+/g)?.slice(0, 3).join(" ") ?? "";
      const candidates = [...r.calls, ...(rooms[i + 1]?.calls ?? [])].filter((c) => typeof c.text === "string");
      const words = (c) => (unwrapped(c.text) ?? c.text).toLowerCase().match(/[a-z]+/g)?.join(" ") ?? "";
      result.accepted = candidates.filter((c) => words(c).includes(spoken)).at(-1) ?? r.calls.at(-1) ?? null;
    }
    return judge(result, labels);
  });
  const summary = summarize(results);
  console.log(`## ${rejudge}, judged again: ${rooms.length} rooms\n`);
  console.log(table(summary));
  unread(summary);
  process.exit(0);
}

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
    labels,
    onResult: (r) => {
      const who = r.model === "rules" ? "rules" : r.model ? "model" : "none";
      const read = r.label ? ` (read: ${r.label.label})` : "";
      const flag = r.spoken && !r.fit ? `  UNFIT: ${(r.label?.reasons ?? r.kinds).join(", ")}` : "";
      process.stderr.write(
        `[eval] room ${r.room.index}${r.stream ? " (stream)" : ""}: ${who} ${r.action ?? r.error}: ${JSON.stringify(r.spoken)}${read}${flag}\n`,
      );
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
          withdrawn: r.withdrawn,
          error: r.error,
          kinds: r.kinds,
          label: r.label,
          fit: r.fit,
          refusals: r.refusals,
          ms: r.ms,
          firstDeltaMs: r.firstDeltaMs,
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
        })),
      },
      null,
      1,
    ),
  );
  unread(summary);
  process.stderr.write(`[eval] every room, prompt and answer: ${out}\n`);
} finally {
  await worker.dispose();
  await server.close();
}

// Cold start against the floor Worker: the time of the first request after a
// Worker is loaded, each Worker started four times in alternating order (so
// none is always the first of the run, which pays a warm-up of its own), the
// median of the four. `node bench/cold-start.mjs [build/index.js]` after
// ./scripts/build (and the floor built, as ./scripts/bench does); see
// docs/benchmark.md.
import { EXAMPLE, TOKEN, startWorker } from "../tests/integration/harness.mjs";
const BODY = { ...EXAMPLE, aimodel: undefined };
const LIMITS = { RATE_LIMIT_PER_MINUTE: "100000000", RATE_LIMIT_PER_DAY: "100000000" };
const script = process.argv[2] ?? "build/index.js";
const subjects = [
  ["floor", { scriptPath: "bench/floor/build/index.js" }],
  ["ours kv", { scriptPath: script, state: true, vars: { ...LIMITS, RATE_LIMIT_STORE: "kv" } }],
  ["ours do", { scriptPath: script, state: true, vars: LIMITS }],
];
const got = Object.fromEntries(subjects.map(([l]) => [l, []]));
for (let round = 0; round < 4; round++) {
  const order = round % 2 ? [...subjects].reverse() : subjects;
  for (const [label, opts] of order) {
    const w = await startWorker(opts);
    const t = performance.now();
    const resp = await w.post("/api/generate-prompt", BODY, { Authorization: `Bearer ${TOKEN}` });
    await resp.text();
    got[label].push(performance.now() - t);
    if (resp.status !== 200) console.log(label, resp.status);
    await w.dispose();
  }
}
for (const [l, v] of Object.entries(got)) {
  const s = [...v].sort((a, b) => a - b);
  console.log(l.padEnd(8), v.map((x) => x.toFixed(0)).join(" "), "median", ((s[1] + s[2]) / 2).toFixed(1));
}

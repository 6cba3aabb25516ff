// Latency of POST /api/generate-prompt in workerd (Miniflare, local KV,
// simulated AI binding that answers at once). Measures the Worker's own cost
// per request on this machine, not a model's: run with ./scripts/bench.
import { EXAMPLE, startWorker, step } from "./integration/harness.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 300);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(name, w, body, setup) {
  setup?.();
  for (let i = 0; i < 20; i++) await (await w.post("/api/generate-prompt", body)).arrayBuffer(); // warm-up
  const times = [];
  for (let i = 0; i < N; i++) {
    setup?.();
    const t0 = performance.now();
    const resp = await w.post("/api/generate-prompt", body);
    await resp.arrayBuffer();
    times.push(performance.now() - t0);
    if (resp.status !== 200) throw new Error(`${name}: status ${resp.status}`);
  }
  times.sort((a, b) => a - b);
  const f = (x) => x.toFixed(2).padStart(7);
  console.log(`${name.padEnd(44)} p50 ${f(percentile(times, 50))} ms  p95 ${f(percentile(times, 95))} ms  max ${f(times.at(-1))} ms`);
}

/**
 * Streaming: a model that takes 100 ms per word for a 12-word answer (1.3 s in
 * all). Time to the first delta and to `done`, against the same answer unstreamed.
 */
async function timeToFirstDelta(w, body) {
  const words = "Thank you User456 for the fifty tokens, you just made my whole night!".split(/(?= )/);
  const paced = () => w.sim.script("*", step.tokens(words, { gapMs: 100 }));
  const first = [];
  const done = [];
  const whole = [];
  for (let i = 0; i < 20; i++) {
    paced();
    const t0 = performance.now();
    const resp = await w.post("/api/generate-prompt", { ...body, stream: true });
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      text += decoder.decode(value, { stream: true });
      if (first.length === done.length && text.includes("event: delta")) first.push(performance.now() - t0);
    }
    done.push(performance.now() - t0);
    w.sim.script("*", step.slow(100 * (words.length + 1), step.answer(words.join(""))));
    const t1 = performance.now();
    await (await w.post("/api/generate-prompt", body)).arrayBuffer();
    whole.push(performance.now() - t1);
  }
  const p50 = (xs) => percentile([...xs].sort((a, b) => a - b), 50).toFixed(0).padStart(5);
  console.log(
    `${"stream: 13 words at 100 ms each".padEnd(44)} first delta p50 ${p50(first)} ms  done p50 ${p50(done)} ms  (unstreamed p50 ${p50(whole)} ms)`,
  );
}

const big = {
  broadcaster: "BroadcasterName",
  preferences: "p".repeat(1000),
  context: Array.from({ length: 200 }, (_, i) => ({ text: `User${i}: ${"x".repeat(250)}`, type: i % 10 ? "chat" : "tip" })),
};

const w = await startWorker({ vars: { RATE_LIMIT_PER_MINUTE: "1000000", RATE_LIMIT_PER_DAY: "1000000" } });
try {
  const model = { ...EXAMPLE, aimodel: undefined };
  await measure("model answers clean JSON (example body)", w, model, () =>
    w.sim.script("*", step.answer('{"action":"say","content":"Thanks User456!"}')),
  );
  await measure("model answers, 200 events of 250 chars", w, { ...big }, () =>
    w.sim.script("*", step.answer('{"action":"say","content":"Thanks!"}')),
  );
  await measure("model answers in an SSE stream", w, model, () =>
    w.sim.script("*", step.sse(['data: {"response":"Thanks "}\n\n', 'data: {"response":"Max!"}\n\n', "data: [DONE]\n\n"])),
  );
  await timeToFirstDelta(w, model);
  await measure("every model permanently failing -> rules", w, model, () => w.sim.script("*", step.error("5007: No such model")));
} finally {
  await w.dispose();
}
const rules = await startWorker({ ai: false, vars: { RATE_LIMIT_PER_MINUTE: "1000000", RATE_LIMIT_PER_DAY: "1000000" } });
try {
  await measure("no AI binding: rules coach", rules, EXAMPLE);
} finally {
  await rules.dispose();
}

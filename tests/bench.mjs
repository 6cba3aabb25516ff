// The Worker's own cost in workerd (Miniflare, local KV, a simulated AI
// binding that answers at once), measured on this machine: run it with
// ./scripts/bench, which builds the Worker and the floor Worker
// (bench/floor) first and prints the bundle size. Timings live here, not in
// the tests.
//
// CPU is the workerd process's user + system time (/proc/<pid>/stat, in
// clock ticks) over the timed requests, divided by their number. The same
// process also runs the simulated AI binding and the KV probe, so the
// figure is compared with the floor Worker's, which does the same I/O
// through the same simulations: the difference is our own work.
import { readdirSync, readFileSync } from "node:fs";
import llama3 from "llama3-tokenizer-js";
import { EXAMPLE, TOKEN, startWorker, step } from "./integration/harness.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 400);
const TICK_MS = 1000 / Number(process.env.CLK_TCK ?? 100);
const LIMITS = { RATE_LIMIT_PER_MINUTE: "100000000", RATE_LIMIT_PER_DAY: "100000000" };
const ANSWER = '{"action":"say","content":"Thanks User456 for the 50 tokens!"}';
const BODY = { ...EXAMPLE, aimodel: undefined };

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const ms = (x, w = 7) => x.toFixed(2).padStart(w);

/** The pid of the newest workerd process started by this Node process. */
function workerdPid() {
  const mine = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "workerd" && ppid === process.pid) mine.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  if (mine.length === 0) throw new Error("no workerd child process found in /proc");
  return Math.max(...mine);
}

/** User + system CPU milliseconds the process has used so far. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * TICK_MS; // utime, stime (fields 14, 15)
}

async function send(w, body, headers) {
  const resp = await w.post("/api/generate-prompt", body, headers);
  await resp.arrayBuffer();
  if (resp.status !== 200) throw new Error(`status ${resp.status}`);
}

/** `n` requests, `concurrency` at a time: rps, p50, p99 and CPU ms per request. */
async function run(w, pid, body, n, concurrency) {
  const times = [];
  let next = 0;
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next += 1;
        const t = performance.now();
        await send(w, body);
        times.push(performance.now() - t);
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = (cpuMs(pid) - cpu0) / n;
  times.sort((a, b) => a - b);
  return { rps: (n * 1000) / wall, p50: percentile(times, 50), p99: percentile(times, 99), cpu };
}

/** Starts a Worker, times its first request (cold start), warms it up. */
async function start(label, options) {
  const w = await startWorker({ ...options, vars: { ...LIMITS, ...(options?.vars ?? {}) } });
  const pid = workerdPid();
  w.sim.script("*", step.answer(ANSWER));
  const t = performance.now();
  await send(w, BODY);
  const cold = performance.now() - t;
  for (let i = 0; i < 50; i++) await send(w, BODY);
  return { w, pid, cold, label };
}

async function throughput() {
  console.log("\n## Throughput and CPU (model answers at once; example body)");
  const results = {};
  for (const [label, options] of [
    ["coach Worker", {}],
    ["floor Worker (same I/O, no work)", { scriptPath: "bench/floor/build/index.js" }],
  ]) {
    const { w, pid, cold } = await start(label, options);
    try {
      const line = [`${label.padEnd(34)} cold start ${ms(cold, 6)} ms`];
      for (const c of [1, 32]) {
        const r = await run(w, pid, BODY, c === 1 ? N : N * 2, c);
        results[`${label}@${c}`] = r;
        line.push(
          `  c=${String(c).padEnd(2)} ${r.rps.toFixed(0).padStart(5)} req/s  p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  workerd CPU ${ms(r.cpu, 5)} ms/req`,
        );
      }
      console.log(line.join("\n"));
    } finally {
      await w.dispose();
    }
  }
  for (const c of [1, 32]) {
    const own = results[`coach Worker@${c}`].cpu - results[`floor Worker (same I/O, no work)@${c}`].cpu;
    console.log(`our own CPU above the floor at c=${c}: ${own.toFixed(2)} ms/request (budget 0.30)`);
  }
}

/** Where the CPU goes: the same Worker, requests that stop at each stage. */
async function breakdown() {
  console.log("\n## Where the CPU goes (coach Worker, c=1, workerd CPU ms/request)");
  const { w, pid } = await start("coach", {});
  try {
    const stages = [
      ["GET /healthz (config read, routing, log line)", () => w.fetch("/healthz")],
      ["401 unknown token (+ auth, failure limiter)", () => w.post("/api/generate-prompt", BODY, { Authorization: "Bearer nope-nope-nope" })],
      ["GET /api/models (+ KV counter, listing)", () => w.fetch("/api/models", { headers: { Authorization: `Bearer ${TOKEN}`, "CF-Connecting-IP": "203.0.113.7" } })],
      ["400 unknown_model (+ body read, parse)", () => w.post("/api/generate-prompt", { ...BODY, aimodel: "nope" })],
      ["200 example body (+ prompt, model call, checks)", () => w.post("/api/generate-prompt", BODY)],
    ];
    for (const [label, call] of stages) {
      for (let i = 0; i < 30; i++) await (await call()).arrayBuffer();
      const cpu0 = cpuMs(pid);
      for (let i = 0; i < N; i++) await (await call()).arrayBuffer();
      console.log(`${label.padEnd(52)} ${ms((cpuMs(pid) - cpu0) / N, 5)}`);
    }
  } finally {
    await w.dispose();
  }
}

/**
 * Streaming: a model that takes 100 ms per word for a 12-word answer (1.3 s in
 * all). Time to the first delta and to `done`, against the same answer unstreamed.
 */
async function timeToFirstDelta() {
  console.log("\n## Streaming");
  const { w } = await start("coach", {});
  try {
    const words = "Thank you User456 for the fifty tokens, you just made my whole night!".split(/(?= )/);
    const first = [];
    const done = [];
    const whole = [];
    for (let i = 0; i < 20; i++) {
      w.sim.script("*", step.tokens(words, { gapMs: 100 }));
      const t0 = performance.now();
      const resp = await w.post("/api/generate-prompt", { ...BODY, stream: true });
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
      await (await w.post("/api/generate-prompt", BODY)).arrayBuffer();
      whole.push(performance.now() - t1);
    }
    const p50 = (xs) => percentile([...xs].sort((a, b) => a - b), 50).toFixed(0).padStart(5);
    console.log(
      `13 words at 100 ms each: first delta p50 ${p50(first)} ms, done p50 ${p50(done)} ms (unstreamed p50 ${p50(whole)} ms)`,
    );
  } finally {
    await w.dispose();
  }
}

/** A context string of `n` events that fits the 64 KiB body: mostly joins, some chat and tips. */
function crowd(n) {
  const lines = [];
  for (let i = 0; i < n; i++) {
    const u = `u${i.toString(36)}`;
    lines.push(i % 10 === 3 ? `Chat: ${u}: hi` : i % 25 === 7 ? `Tip: ${u} tipped ${5 + (i % 50)} tokens` : `Join: ${u}`);
  }
  return lines.join("\n");
}

async function promptSizes() {
  console.log("\n## Prompt size (Llama 3 tokenizer, message contents without the chat template)");
  const { w } = await start("coach", {});
  try {
    const typical = Array.from({ length: 60 }, (_, i) =>
      i % 6 === 0
        ? { text: `fan${i % 7} tipped ${10 + i} tokens`, type: "tip" }
        : { text: `viewer${i % 13}: ${["hey Luna!", "what game is this?", "lol that was close", "love the stream"][i % 4]}`, type: "chat" },
    );
    for (const [label, body] of [
      ["small (the README example, 2 events)", BODY],
      ["typical (60 chat lines and tips)", { ...BODY, context: typical, recent: ["Thanks fan1 for the tokens!"] }],
      ["5,000 events (the whole buffer)", { ...BODY, context: crowd(5000) }],
    ]) {
      const bytes = Buffer.byteLength(JSON.stringify(body));
      if (bytes > 64 * 1024) throw new Error(`${label}: body of ${bytes} bytes is over 64 KiB`);
      w.sim.calls.length = 0;
      await send(w, body);
      const messages = w.sim.calls.at(-1).input.messages;
      const text = messages.map((m) => m.content).join("\n");
      const tokens = messages.reduce((n, m) => n + llama3.encode(m.content, { bos: false, eos: false }).length, 0);
      console.log(`${label.padEnd(40)} ${String(tokens).padStart(5)} tokens  (${text.length} chars; body ${bytes} bytes)`);
    }
  } finally {
    await w.dispose();
  }
}

async function kvOperations() {
  console.log("\n## KV operations per request (budget: allowed <= 1 read and <= 1 write; rejected: no write)");
  const { w } = await start("coach", { kvProbe: true });
  try {
    const issued = await (
      await w.fetch("/admin/tokens", {
        method: "POST",
        headers: { Authorization: "Bearer admin-token-0123456789", "Content-Type": "application/json" },
        body: JSON.stringify({ name: "Bench" }),
      })
    ).json();
    const limited = await (
      await w.fetch("/admin/tokens", {
        method: "POST",
        headers: { Authorization: "Bearer admin-token-0123456789", "Content-Type": "application/json" },
        body: JSON.stringify({ name: "Limited", per_minute: 1 }),
      })
    ).json();
    const cases = [
      ["allowed, static token (API_TOKENS)", {}],
      ["rejected 429, over the caller's minute", { Authorization: `Bearer ${limited.token}` }],
      ["allowed, issued token", { Authorization: `Bearer ${issued.token}` }],
      ["rejected 401, unknown token", { Authorization: "Bearer nope-nope-nope" }],
      ["rejected 401, unknown issued-shaped token", { Authorization: `Bearer ck_${"0".repeat(64)}` }],
      ["rejected 400, invalid JSON (after auth)", {}, "{nope"],
    ];
    for (const [label, headers, body = BODY] of cases) {
      // The second of two: the first may fill a cache.
      for (let i = 0; i < 2; i++) {
        w.probe.ops.length = 0;
        await (await w.post("/api/generate-prompt", body, headers)).arrayBuffer();
        await new Promise((r) => setTimeout(r, 50)); // writes after the response
      }
      const reads = w.probe.count("get") + w.probe.count("list");
      console.log(`${label.padEnd(44)} reads ${reads}  writes ${w.probe.count("put") + w.probe.count("delete")}`);
    }
  } finally {
    await w.dispose();
  }
}

// BENCH_SECTIONS=throughput,breakdown runs only those.
const sections = { throughput, breakdown, timeToFirstDelta, promptSizes, kvOperations };
const chosen = process.env.BENCH_SECTIONS?.split(",") ?? Object.keys(sections);
for (const name of chosen) await sections[name]();

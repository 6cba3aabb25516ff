// The Worker's own cost in workerd (Miniflare, local KV, a simulated AI
// binding that answers at once), measured on this machine: run it with
// ./scripts/bench, which builds the Worker and the floor Worker
// (bench/floor) first and prints the bundle size. Timings live here, not in
// the tests.
//
// CPU is the workerd process's user + system time (/proc/<pid>/stat, in
// clock ticks) over the timed requests, divided by their number. The same
// process also runs the simulated AI binding, the KV probe and (with
// RATE_LIMIT_STORE=do) the state objects, so the figure is compared with
// the floor Worker's, which does the same I/O through the same simulations:
// the difference is our own work.
//
// Section `stores` is one interleaved run: our Worker counting callers in KV
// (RATE_LIMIT_STORE=kv) and in Durable Objects (do), the floor Worker and,
// when /work/shared/bench-peers (BENCH_PEERS) is there, two plain-JS peers,
// each in its own workerd, taking turns in rounds so that the machine's
// load falls on all alike. Section `operations` counts KV operations and
// Durable Object requests per request (bench/count-do.mjs wraps the binding).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import llama3 from "llama3-tokenizer-js";
import { EXAMPLE, STATE_VARS, TOKEN, startWorker, step } from "./integration/harness.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
/** Requests per subject per round, at concurrency 1 and 16. */
const PER_ROUND = { 1: Number(process.env.BENCH_C1 ?? 100), 16: Number(process.env.BENCH_C16 ?? 200) };
const PEERS = process.env.BENCH_PEERS ?? "/work/shared/bench-peers";
const TICK_MS = 1000 / Number(process.env.CLK_TCK ?? 100);
const LIMITS = { RATE_LIMIT_PER_MINUTE: "100000000", RATE_LIMIT_PER_DAY: "100000000" };
const BODY = { ...EXAMPLE, aimodel: undefined };
/**
 * BENCH_EVENTS=20,500: the `stores` section once per body of that many events
 * (bench/rooms/room-<n>.json, in the coach frontend's words; bench/rooms.mjs
 * writes them) instead of the README example's two events.
 */
const EVENTS = (process.env.BENCH_EVENTS ?? "").split(",").filter(Boolean).map(Number);
/** BENCH_SUBJECTS=kv,floor,js-same-job: only these Workers in the `stores` section (default: all). */
const ONLY = (process.env.BENCH_SUBJECTS ?? "").split(",").filter(Boolean);
function roomBody(n) {
  return JSON.parse(readFileSync(new URL(`../bench/rooms/room-${n}.json`, import.meta.url), "utf8"));
}
/** The two stores, as wrangler.toml ships them but for RATE_LIMIT_STORE (STATE_VARS: budget 10000, closed). */
const STORES = {
  kv: { ...STATE_VARS, RATE_LIMIT_STORE: "kv" },
  // The budget out of the way: thousands of requests would spend the shipped 10,000 neurons.
  do: { ...STATE_VARS, RATE_LIMIT_STORE: "do", DAILY_NEURON_BUDGET: "10000000" },
};

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const ms = (x, w = 7) => x.toFixed(2).padStart(w);
const sleep = (t) => new Promise((r) => setTimeout(r, t));
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

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

/**
 * The simulated model answers a different line each call: with
 * RATE_LIMIT_STORE=do the caller's object remembers what was said, and the
 * checks refuse a repeat (or a line sharing 3/4 of its words with one), so one
 * fixed answer would send every request after the first to the fallback model
 * and the rules coach. Each line shares 6 of its 9 words with any other.
 */
const SYLLABLES = ["ba", "ko", "ri", "mu", "te", "sa", "lo", "ni", "pe", "du", "ga", "vi", "ho", "ze", "fu", "ma"];
let said = 0;
function word(n) {
  let w = "";
  for (let i = 0; i < 4; i++, n >>= 4) w += SYLLABLES[n & 15];
  return w;
}
function nextAnswer() {
  const n = (said++ % 20000) * 3;
  // Not a thank-you: the caller's object remembers acts, and a second thank-you to one tipper is refused.
  const content = `Ask chat about the ${word(n)} ${word(n + 1)} ${word(n + 2)} tonight, friend!`;
  return JSON.stringify({ action: "say", content });
}
/** Scripts as SimAi keeps them, but with nothing scripted for "*" a new line each call. */
class Varied extends Map {
  get(model) {
    return super.get(model) ?? (model === "*" ? [step.answer(nextAnswer())] : undefined);
  }
}
function varied(w) {
  w.sim.scripts = new Varied();
}

/** Sends one request; `true` when the answer is a fallback (another model or the rules coach). */
async function send(w, body, headers) {
  const resp = await w.post("/api/generate-prompt", body, headers);
  const text = await resp.text();
  if (resp.status !== 200) throw new Error(`status ${resp.status}: ${text.slice(0, 200)}`);
  const answer = JSON.parse(text);
  return answer.fallback === true || answer.model === "rules" || answer.over_budget != null;
}

/** `n` requests, `concurrency` at a time: latencies, wall and CPU milliseconds, fallbacks, model calls. */
async function block(s, n, concurrency, body = BODY) {
  const times = [];
  let next = 0;
  let fallbacks = 0;
  s.w.sim.calls.length = 0;
  const cpu0 = cpuMs(s.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      // One caller, or (s.tokens) one caller per slot.
      const headers = s.tokens ? { Authorization: `Bearer ${s.tokens[slot % s.tokens.length]}` } : {};
      while (next < n) {
        next += 1;
        const t = performance.now();
        if (await send(s.w, body, headers)) fallbacks += 1;
        times.push(performance.now() - t);
      }
    }),
  );
  const wall = performance.now() - t0;
  await sleep(50); // the work after the response (waitUntil) belongs to this block
  return { times, wall, cpu: cpuMs(s.pid) - cpu0, fallbacks, modelCalls: s.w.sim.calls.length, n };
}

/** Starts a Worker, times its first request (cold start), warms it up. */
async function start(label, options = {}, tokens = [TOKEN], body = BODY) {
  const w = await startWorker({ ...options, vars: { ...LIMITS, ...(options.vars ?? {}) } });
  const pid = workerdPid();
  varied(w);
  const t = performance.now();
  await send(w, body, { Authorization: `Bearer ${tokens[0]}` });
  const cold = performance.now() - t;
  for (let i = 0; i < 50; i++) await send(w, body, { Authorization: `Bearer ${tokens[i % tokens.length]}` });
  return { w, pid, cold, label };
}

/** Sixteen static tokens: sixteen callers, each with its own state object. */
const CALLERS = Array.from({ length: 16 }, (_, i) => `bench-caller-${String(i).padStart(2, "0")}-0123456789`);

/** The Workers compared: ours with each store, the floor, and the JS peers when their folder is there. */
function subjects() {
  const list = [
    { key: "kv", label: "coach, RATE_LIMIT_STORE=kv", options: { vars: STORES.kv } },
    { key: "do", label: "coach, RATE_LIMIT_STORE=do", options: { vars: STORES.do } },
    // The same at c=16, but each of the 16 at a time is another caller: only
    // the deployment's object is shared.
    {
      key: "do16",
      label: "coach, do, 16 callers",
      options: { vars: { ...STORES.do, API_TOKENS: CALLERS.join(",") } },
      tokens: CALLERS,
      only: [16],
    },
    { key: "floor", label: "floor Worker (Rust, same I/O)", options: { scriptPath: "bench/floor/build/index.js" } },
  ];
  // BENCH_BASE=<a build's index.js>: another build of ours beside the work
  // tree's, for a before and after in one interleaved run.
  if (process.env.BENCH_BASE) {
    list.push({ key: "base", label: "coach at BENCH_BASE, kv", options: { scriptPath: process.env.BENCH_BASE, vars: STORES.kv } });
  }
  // Loaded from their folder through a link below the working directory
  // (Miniflare takes modules only from below it); not copied.
  const link = "target/bench/peers";
  for (const [key, label] of [
    ["js-same-job", "JS peer: same job"],
    ["js-io-floor", "JS peer: I/O floor"],
  ]) {
    if (!existsSync(join(PEERS, key, "index.js"))) {
      console.log(`(${join(PEERS, key, "index.js")} not found: ${label} left out; set BENCH_PEERS)`);
      continue;
    }
    mkdirSync("target/bench", { recursive: true });
    rmSync(link, { force: true });
    symlinkSync(resolve(PEERS), link);
    list.push({ key, label, options: { scriptPath: join(link, key, "index.js") } });
  }
  return ONLY.length ? list.filter((s) => ONLY.includes(s.key)) : list;
}

async function stores() {
  if (EVENTS.length === 0) return storesWith("example body", BODY);
  for (const n of EVENTS) {
    const body = roomBody(n);
    await storesWith(`${n} events, ${Buffer.byteLength(JSON.stringify(body))} bytes (bench/rooms/room-${n}.json)`, body);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function storesWith(what, body) {
  console.log(
    `\n## Stores and peers, interleaved (model answers at once; ${what}; one caller; ${ROUNDS} rounds of ` +
      `${PER_ROUND[1]} requests at c=1 and ${PER_ROUND[16]} at c=16 per Worker)`,
  );
  const loadBefore = load();
  const t0 = performance.now();
  const list = subjects();
  try {
    for (const s of list) {
      console.error(`[bench] starting ${s.label}`);
      Object.assign(s, await start(s.label, s.options, s.tokens, body));
      s.stats = {};
      for (const c of [1, 16]) {
        s.stats[c] = { times: [], wall: 0, cpu: 0, n: 0, fallbacks: 0, modelCalls: 0, roundP50: [], roundCpu: [], roundRps: [] };
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts with a different Worker.
      const order = list.map((_, i) => list[(i + round) % list.length]);
      for (const c of [1, 16]) {
        for (const s of order.filter((x) => !x.only || x.only.includes(c))) {
          const r = await block(s, PER_ROUND[c], c, body);
          const st = s.stats[c];
          st.times.push(...r.times);
          st.wall += r.wall;
          st.cpu += r.cpu;
          st.n += r.n;
          st.fallbacks += r.fallbacks;
          st.modelCalls += r.modelCalls;
          st.roundP50.push(percentile(r.times.sort((a, b) => a - b), 50));
          st.roundCpu.push(r.cpu / r.n);
          st.roundRps.push((r.n * 1000) / r.wall);
        }
      }
    }
    const fig = {};
    console.log(
      `${"".padEnd(32)} cold ms |  c=1: p50 ms  p99 ms  req/s  CPU ms/req | c=16: p50 ms  p99 ms  req/s  CPU ms/req | model calls/req, fallbacks`,
    );
    for (const s of list) {
      fig[s.key] = {};
      const cells = [];
      for (const c of [1, 16]) {
        const st = s.stats[c];
        if (st.n === 0) {
          cells.push(`${"-".padStart(7)} ${"-".padStart(7)} ${"-".padStart(6)} ${"-".padStart(11)}`);
          continue;
        }
        const sorted = [...st.times].sort((a, b) => a - b);
        const f = { p50: percentile(sorted, 50), p99: percentile(sorted, 99), rps: (st.n * 1000) / st.wall, cpu: st.cpu / st.n };
        f.roundP50 = st.roundP50;
        fig[s.key][c] = f;
        cells.push(`${ms(f.p50)} ${ms(f.p99)} ${f.rps.toFixed(0).padStart(6)} ${ms(f.cpu, 11)}`);
      }
      const n = s.stats[1].n + s.stats[16].n;
      const calls = (s.stats[1].modelCalls + s.stats[16].modelCalls) / n;
      const fb = s.stats[1].fallbacks + s.stats[16].fallbacks;
      console.log(`${s.label.padEnd(32)} ${ms(s.cold, 7)} |      ${cells[0]} |      ${cells[1]} | ${calls.toFixed(2)}, ${fb}`);
    }
    if (fig.do && fig.kv) console.log("\nRATE_LIMIT_STORE=do minus kv (the state objects' round trip and their work):");
    for (const c of fig.do && fig.kv ? [1, 16] : []) {
      const d = fig.do[c];
      const k = fig.kv[c];
      const perRound = d.roundP50.map((x, i) => x - k.roundP50[i]).sort((a, b) => a - b);
      console.log(
        `  c=${String(c).padEnd(2)} p50 ${ms(d.p50 - k.p50, 6)} ms, p99 ${ms(d.p99 - k.p99, 6)} ms ` +
          `(p50 difference per round ${perRound[0].toFixed(2)} to ${perRound.at(-1).toFixed(2)} ms), ` +
          `req/s ${(d.rps / k.rps).toFixed(2)}x, CPU ${ms(d.cpu - k.cpu, 5)} ms/req`,
      );
    }
    if (fig.do16?.[16] && fig.kv) {
      const d = fig.do16[16];
      const k = fig.kv[16];
      const perRound = d.roundP50.map((x, i) => x - k.roundP50[i]).sort((a, b) => a - b);
      console.log(
        `  c=16, 16 callers: p50 ${ms(d.p50 - k.p50, 6)} ms, p99 ${ms(d.p99 - k.p99, 6)} ms ` +
          `(p50 difference per round ${perRound[0].toFixed(2)} to ${perRound.at(-1).toFixed(2)} ms), ` +
          `req/s ${(d.rps / k.rps).toFixed(2)}x, CPU ${ms(d.cpu - k.cpu, 5)} ms/req`,
      );
    }
    // Per round, then the median of the rounds: each round's Workers ran under the same load.
    const ours = ["kv", "do", "base"].filter((k) => fig[k]);
    const js = list.find((s) => s.key === "js-same-job");
    const floor = list.find((s) => s.key === "floor");
    for (const c of [1, 16]) {
      const line = [];
      for (const key of ours) {
        const st = list.find((s) => s.key === key).stats[c];
        if (floor) {
          const above = st.roundCpu.map((x, i) => x - floor.stats[c].roundCpu[i]);
          line.push(`${key} CPU above the floor ${median(above).toFixed(2)} ms/req (rounds ${Math.min(...above).toFixed(2)} to ${Math.max(...above).toFixed(2)})`);
        }
        if (js) {
          const cpu = st.roundCpu.map((x, i) => x / js.stats[c].roundCpu[i]);
          const rps = st.roundRps.map((x, i) => x / js.stats[c].roundRps[i]);
          line.push(`${key} against the JS peer doing the same job: CPU ${median(cpu).toFixed(2)}x, throughput ${median(rps).toFixed(2)}x`);
        }
      }
      console.log(`c=${c}, median of ${ROUNDS} rounds: ${line.join("; ")}`);
    }
  } finally {
    for (const s of list) await s.w?.dispose();
  }
  console.log(`load average before ${loadBefore}, after ${load()}; section took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

/** Where the CPU goes: the same Worker, requests that stop at each stage. */
async function breakdown() {
  console.log("\n## Where the CPU goes (coach Worker, RATE_LIMIT_STORE=kv, DAILY_NEURON_BUDGET=off, c=1, workerd CPU ms/request)");
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

/**
 * The coaching Worker with its CALLER_STATE binding counted (bench/count-do.mjs),
 * copied with the build into target/bench/: Miniflare takes modules only from
 * below the working directory, and reads build/index.js as an ES module only
 * as the entry.
 */
function countingBuild() {
  mkdirSync("target/bench", { recursive: true });
  const dir = mkdtempSync("target/bench/count-do-");
  copyFileSync("build/index.js", join(dir, "coach.mjs"));
  copyFileSync("build/index_bg.wasm", join(dir, "index_bg.wasm"));
  copyFileSync("bench/count-do.mjs", join(dir, "count-do.mjs"));
  return dir;
}

/** KV reads, KV writes and state-object requests (by object and route) made by `call`, after its deferred work. */
async function counted(w, call) {
  const doCount = async () => (w.countsDo ? await (await w.fetch("/__bench/do-requests")).json() : {});
  const before = await doCount();
  w.probe.ops.length = 0;
  await call();
  await sleep(50); // writes and records after the response
  const after = await doCount();
  const routes = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0)) routes[k] = v - (before[k] ?? 0);
  return {
    reads: w.probe.count("get") + w.probe.count("list"),
    writes: w.probe.count("put") + w.probe.count("delete"),
    objects: Object.values(routes).reduce((a, b) => a + b, 0),
    routes,
  };
}

async function operations() {
  console.log("\n## KV operations and Durable Object requests per request (budget for KV: allowed <= 1 read and <= 1 write; rejected: no write)");
  const dir = countingBuild();
  try {
    const workers = [
      ...Object.entries(STORES).map(([store, vars]) => ({
        label: `coach, RATE_LIMIT_STORE=${store}`,
        options: { scriptPath: join(dir, "count-do.mjs"), state: true, vars },
        countsDo: true,
        cases: true,
      })),
      ...subjects()
        // Ours are counted above, through the counting build ("base" is ours too).
        .filter((s) => !["kv", "do", "do16", "base"].includes(s.key))
        .map((s) => ({ label: s.label, options: s.options })),
    ];
    const steady = 20;
    for (const x of workers) {
      const w = await startWorker({ ...x.options, kvProbe: true, vars: { ...LIMITS, ...(x.options.vars ?? {}) } });
      w.countsDo = x.countsDo;
      varied(w);
      try {
        for (let i = 0; i < 3; i++) await send(w, BODY);
        // Allowed requests with the static token, one at a time, each after the last one's deferred work.
        const sum = { reads: 0, writes: 0, objects: 0, routes: {} };
        for (let i = 0; i < steady; i++) {
          const r = await counted(w, () => send(w, BODY));
          sum.reads += r.reads;
          sum.writes += r.writes;
          sum.objects += r.objects;
          for (const [k, v] of Object.entries(r.routes)) sum.routes[k] = (sum.routes[k] ?? 0) + v;
        }
        const routes = Object.entries(sum.routes).map(([k, v]) => `${k} ${(v / steady).toFixed(2)}`).join(", ");
        console.log(
          `${x.label}: allowed request (mean of ${steady}): KV reads ${(sum.reads / steady).toFixed(2)}, writes ${(sum.writes / steady).toFixed(2)}; ` +
            (x.countsDo ? `Durable Object requests ${(sum.objects / steady).toFixed(2)}${routes ? ` (${routes})` : ""}` : "no Durable Object binding"),
        );
        if (x.cases) await cases(w);
      } finally {
        await w.dispose();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Allowed and rejected requests of each kind, the second of two (the first may fill a cache). */
async function cases(w) {
  const admin = { Authorization: "Bearer admin-token-0123456789abcdef", "Content-Type": "application/json" };
  const issue = async (body) =>
    (await w.fetch("/admin/tokens", { method: "POST", headers: admin, body: JSON.stringify(body) })).json();
  const issued = await issue({ name: "Bench" });
  const limited = await issue({ name: "Limited", per_minute: 1 });
  const list = [
    ["allowed, static token (API_TOKENS)", {}],
    ["rejected 429, over the caller's minute", { Authorization: `Bearer ${limited.token}` }],
    ["allowed, issued token", { Authorization: `Bearer ${issued.token}` }],
    ["rejected 401, unknown token", { Authorization: "Bearer nope-nope-nope" }],
    ["rejected 401, unknown issued-shaped token", { Authorization: `Bearer ck_${"0".repeat(64)}` }],
    ["rejected 400, invalid JSON (after auth)", {}, "{nope"],
  ];
  for (const [label, headers, body = BODY] of list) {
    let r;
    for (let i = 0; i < 2; i++) {
      r = await counted(w, async () => (await w.post("/api/generate-prompt", body, headers)).arrayBuffer());
    }
    const routes = Object.entries(r.routes).map(([k, v]) => `${k}${v > 1 ? ` x${v}` : ""}`).join(", ");
    console.log(`  ${label.padEnd(44)} KV reads ${r.reads}  writes ${r.writes}  DO requests ${r.objects}${routes ? ` (${routes})` : ""}`);
  }
}

// BENCH_SECTIONS=stores,operations runs only those; BENCH_SECTIONS= (empty) none (the bundle size only).
const sections = { stores, breakdown, timeToFirstDelta, promptSizes, operations };
const chosen = process.env.BENCH_SECTIONS?.split(",").filter(Boolean) ?? Object.keys(sections);
for (const name of chosen) {
  if (!sections[name]) throw new Error(`BENCH_SECTIONS: no section ${name} (${Object.keys(sections).join(", ")})`);
  await sections[name]();
}

// A CPU profile of the request path in workerd: V8's sampling profiler,
// reached through Miniflare's inspector (the Chrome DevTools protocol), over
// the Worker built with its function names (scripts/profile builds it into
// target/profile/build). It prints where the Worker's own time goes, by
// function: self time, and time inside each of our functions with what it
// calls. Run it with ./scripts/profile; a command, not a test.
//
//   PROFILE_EVENTS=20,500     bodies of that many room events
//   PROFILE_REQUESTS=1500     requests profiled per body (after 50 warm-up)
//   PROFILE_TOP=15            rows per table
//   PROFILE_BUILD=target/profile/build/index.js
//   PROFILE_OUT=test-output   where the raw .cpuprofile files go (open them in DevTools)
//   PROFILE_STREAM=1          streamed answers ("stream": true, the model's tokens one by one)
//   PROFILE_STORE=kv          RATE_LIMIT_STORE (kv, or do: the state objects run in the same isolate)
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import WebSocket from "ws";
import { STATE_VARS, startWorker, step } from "../tests/integration/harness.mjs";
import { roomBody } from "./rooms.mjs";

const EVENTS = (process.env.PROFILE_EVENTS ?? "20,500").split(",").map(Number);
const REQUESTS = Number(process.env.PROFILE_REQUESTS ?? 1500);
const TOP = Number(process.env.PROFILE_TOP ?? 15);
const BUILD = process.env.PROFILE_BUILD ?? "target/profile/build/index.js";
const OUT = process.env.PROFILE_OUT ?? "test-output";
const STREAM = process.env.PROFILE_STREAM === "1";
const VARS = {
  ...STATE_VARS,
  RATE_LIMIT_STORE: process.env.PROFILE_STORE ?? "kv",
  RATE_LIMIT_PER_MINUTE: "100000000",
  RATE_LIMIT_PER_DAY: "100000000",
};

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One DevTools protocol session: `send(method, params)` answers with the result. */
async function devtools(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl && /coach/.test(`${t.id} ${t.title} ${t.url}`)) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const waiting = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.error) w.reject(new Error(`${msg.error.message}`));
    else w.resolve(msg.result);
  });
  return {
    send(method, params = {}) {
      id += 1;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

/** Shortens a wasm function's name: no hash, no crate prefix. */
function shortName(frame) {
  const name = (frame.functionName || "(anonymous)").replace(/::h[0-9a-f]{16}$/, "");
  return name.replace(/^coach_worker::/, "");
}

/** Self and inclusive time per function (milliseconds) from a V8 CPU profile. */
export function costs(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  const total = new Map();
  const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
  let all = 0;
  profile.samples.forEach((nodeId, i) => {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(nodeId);
    const name = shortName(node.callFrame);
    if (name === "(idle)") return;
    all += dt;
    add(self, name, dt);
    const seen = new Set();
    for (let id = nodeId; id !== undefined; id = parent.get(id)) {
      const n = shortName(byId.get(id).callFrame);
      if (!seen.has(n)) {
        seen.add(n);
        add(total, n, dt);
      }
    }
  });
  return { self, total, all };
}

function rows(map, n, per, filter = () => true) {
  return [...map.entries()]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `| ${k.slice(0, 110)} | ${((1000 * v) / per).toFixed(1)} |`)
    .join("\n");
}

/** Ours: the crate's own functions (the name section keeps their paths). */
const OURS = (name) => /^(core|edge)::|^<coach_worker::|^coach_worker/.test(name);

async function profileBody(events) {
  const port = await freePort();
  const w = await startWorker({ scriptPath: BUILD, state: true, vars: VARS, inspectorPort: port });
  // The bodies the other benchmarks use (bench/rooms.mjs), whose last event is User456's 50-token tip.
  const line = "Thank you so much, User456, for the 50 tokens!";
  const answer = STREAM ? step.tokens(line.split(/(?= )/)) : step.answer(JSON.stringify({ action: "say", content: line }));
  w.sim.scripts = new Map([["*", [answer]]]);
  const body = JSON.stringify({ ...roomBody(events), ...(STREAM && { stream: true }) });
  const send = async () => {
    const resp = await w.post("/api/generate-prompt", body);
    const text = await resp.text();
    if (resp.status !== 200) throw new Error(`status ${resp.status}`);
    return text;
  };
  // A profile of the rules coach standing in would be a profile of the wrong path.
  const first = await send();
  if (/"model":"rules"|"fallback":true/.test(first)) throw new Error(`the model's answer was refused: ${first.slice(0, 200)}`);
  for (let i = 0; i < 50; i++) await send();
  const dt = await devtools(port);
  await dt.send("Profiler.enable");
  await dt.send("Profiler.setSamplingInterval", { interval: 25 });
  await dt.send("Profiler.start");
  for (let i = 0; i < REQUESTS; i++) await send();
  const { profile } = await dt.send("Profiler.stop");
  dt.close();
  await w.dispose();
  mkdirSync(OUT, { recursive: true });
  const file = `${OUT}/profile-${VARS.RATE_LIMIT_STORE}-${events}-events${STREAM ? "-stream" : ""}.cpuprofile`;
  writeFileSync(file, JSON.stringify(profile));
  const c = costs(profile);
  console.log(`\n## ${events} events (${body.length} B body), RATE_LIMIT_STORE=${VARS.RATE_LIMIT_STORE}${STREAM ? ", streamed" : ""}, ${REQUESTS} requests, c=1 (${file})\n`);
  console.log(`V8 samples not idle: ${((1000 * c.all) / REQUESTS).toFixed(0)} µs per request (JS glue, wasm, GC).\n`);
  console.log("Self time, all functions\n\n| function | µs/request |\n| --- | --- |");
  console.log(rows(c.self, TOP, REQUESTS));
  console.log("\nInclusive time, the Worker's own functions (with what they call)\n\n| function | µs/request |\n| --- | --- |");
  console.log(rows(c.total, TOP, REQUESTS, OURS));
}

// Run only as a command, not when imported for `costs()`.
if (import.meta.url === `file://${process.argv[1]}`) for (const n of EVENTS) await profileBody(n);

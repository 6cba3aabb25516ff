// `./scripts/dev` as a newcomer runs it: the real small model
// (SmolLM2-135M-Instruct, tests/real-model/) loads beside wrangler, the Worker
// reaches it as its default model, and the rules coach answers when the judge
// refuses its line, saying why in `refused`. Started on a free port with its
// own local state (`--persist-to`), then stopped as Ctrl-C stops it: the
// model stops too.
//
// The model is real, so which line it writes is not scripted: a room whose
// streamed answer it often gets right is asked (with a new seed each time)
// until it answers, and the README's example, whose whole answer it nearly
// always gets wrong, until the rules coach answers after a refused line.
// Both come within a few tries; the test allows up to ten of each.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MODEL = "openai:smollm2-135m";
const TRIES = 10;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A port nothing listens on now. */
async function freePort() {
  const s = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Whether something accepts connections on `port`. */
const listening = (port) =>
  new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => (c.destroy(), resolve(true)));
    c.once("error", () => resolve(false));
  });

/** The first bearer token of .dev.vars (scripts/setup writes it), as the README's curl uses it. */
function devToken() {
  const line = readFileSync(join(ROOT, ".dev.vars"), "utf8").match(/^API_TOKENS=(.*)$/m);
  assert.ok(line, ".dev.vars has no API_TOKENS");
  return line[1].split(",")[0].trim();
}

let dev;
let out = "";
let base;
let modelPort;
let state;
let skip;

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  state = mkdtempSync(join(tmpdir(), "coach-dev-"));
  // Its own process group, so the test can stop it as a terminal's Ctrl-C does.
  dev = spawn("./scripts/dev", ["--port", String(port), "--persist-to", state], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  dev.stdout.on("data", (d) => (out += d));
  dev.stderr.on("data", (d) => (out += d));
  // A build of changed sources would run first (minutes); ./scripts/test builds before this.
  const end = Date.now() + 300_000;
  for (;;) {
    assert.ok(dev.exitCode === null && dev.signalCode === null, `./scripts/dev exited early:\n${out.slice(-3000)}`);
    assert.ok(Date.now() < end, `./scripts/dev did not start:\n${out.slice(-3000)}`);
    // Your own server in .dev.vars is served instead (docs/providers.md): nothing of ours to test.
    if (/^\[dev\] openai: is set in \.dev\.vars/m.test(out)) {
      skip = ".dev.vars points openai: at your own server, so ./scripts/dev serves that";
      return;
    }
    const fellBack = out.match(/^\[dev\] the local model .*$/m);
    assert.ok(!fellBack, fellBack?.[0]);
    const ready = out.match(/^\[dev\] model openai:smollm2-135m .* at http:\/\/127\.0\.0\.1:(\d+)\/v1/m);
    if (ready && (await fetch(`${base}/healthz`).then((r) => r.ok, () => false))) {
      modelPort = Number(ready[1]);
      break;
    }
    await sleep(200);
  }
});

after(async () => {
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    try {
      process.kill(-dev.pid, "SIGKILL");
    } catch {}
  }
  rmSync(state, { recursive: true, force: true });
});

/** One answer to `body`, whole or from a stream's `done`, and the request's log line. */
async function ask(body) {
  const resp = await fetch(`${base}/api/generate-prompt`, {
    method: "POST",
    headers: { Authorization: `Bearer ${devToken()}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(resp.status, 200, await resp.clone().text());
  const text = await resp.text();
  // A stream whose spoken words were withdrawn ends with an error event, not done: no answer.
  const done = body.stream ? text.match(/^event: done\ndata: (.*)$/m) : null;
  const answer = body.stream ? (done ? JSON.parse(done[1]) : { model: "(withdrawn)", content: "" }) : JSON.parse(text);
  const id = resp.headers.get("X-Request-Id");
  // wrangler prints the Worker's log as it comes; give it a moment.
  let log;
  for (let i = 0; i < 20 && !log; i++, await sleep(100)) {
    log = out.split("\n").find((l) => l.includes(`"request_id":"${id}"`) && l.includes('"event":"request"'));
  }
  return { answer, log: log && JSON.parse(log.slice(log.indexOf("{"))) };
}

test("./scripts/dev: the local model is asked, the rules coach says why it refused a line, and Ctrl-C stops both", { timeout: 300_000 }, async (t) => {
  if (skip) return t.skip(skip);
  assert.ok(await listening(modelPort), "the model server listens");
  const models = await (await fetch(`${base}/api/models`, { headers: { Authorization: `Bearer ${devToken()}` } })).json();
  assert.equal(models.default, MODEL);
  assert.deepEqual(models.fallbacks, []);

  // A tip, streamed as the page asks: the plain prompt, which the small model often answers well.
  const TIPPERS = ["Max", "Ana", "Bruno", "Cleo", "Dario", "Elena", "Felix", "Greta", "Hugo", "Iris", "Jonas", "Kira"];
  let own;
  const judged = [];
  for (let seed = 1; seed <= TRIES && !own; seed++) {
    const started = Date.now();
    const { answer } = await ask({
      broadcaster: "Luna",
      // A new tipper each try: the caller's memory rightly refuses a second thank-you for the same tip.
      context: [{ type: "tip", text: `${TIPPERS[seed % TIPPERS.length]} tipped ${40 + seed} tokens`, timestamp: new Date().toISOString() }],
      stream: true,
      options: { seed },
    });
    t.diagnostic(`tip, seed ${seed}: ${answer.model} ${JSON.stringify(answer.content)} ${answer.refused ?? ""} (${Date.now() - started} ms)`);
    if (answer.model === MODEL) own = answer;
    else if (answer.model === "rules" && answer.refused?.length) judged.push(answer.refused);
  }
  // The small model's lines are mostly refused (whole or not at all): every try
  // either is the model's own line, or the rules coach's saying why the model's was refused.
  assert.ok(own || judged.length === TRIES, `a try neither the model's nor refused: ${JSON.stringify(judged)}`);
  if (own) assert.equal(own.refused, undefined, "refused is only for the rules coach");

  // The README's example: a whole answer, whose prompt the small model plays back.
  const readme = JSON.parse(readFileSync(join(ROOT, "README.md"), "utf8").match(/-d '(\{[\s\S]*?\})'/)[1]);
  let refused;
  for (let seed = 1; seed <= TRIES && !refused; seed++) {
    const started = Date.now();
    const { answer, log } = await ask({ ...readme, options: { seed } });
    t.diagnostic(`README example, seed ${seed}: ${answer.model} ${JSON.stringify(answer.content)} ${answer.refused ?? ""} (${Date.now() - started} ms)`);
    if (answer.model === "rules" && answer.refused) refused = { answer, log };
  }
  assert.ok(refused, `the rules coach never answered after a refused line in ${TRIES} tries`);
  const { answer, log } = refused;
  assert.equal(answer.fallback, true);
  assert.equal(answer.retired_model, readme.aimodel, "the retired model is served by the local one");
  assert.ok(answer.refused.every((k) => typeof k === "string" && k.length > 0));
  assert.ok(log, "the request's log line");
  assert.equal(log.model_requested, MODEL);
  assert.deepEqual(
    answer.refused,
    log.model_failures.map((f) => f.kind).filter((k) => answer.refused.includes(k)),
    "refused says what the log line's model_failures say",
  );

  // Ctrl-C reaches the whole foreground process group: wrangler stops, and the model with it.
  process.kill(-dev.pid, "SIGINT");
  const end = Date.now() + 20_000;
  const stopped = () => dev.exitCode !== null || dev.signalCode !== null;
  while (!stopped() && Date.now() < end) await sleep(100);
  assert.ok(stopped(), "./scripts/dev stopped");
  assert.equal(await listening(modelPort), false, "the model server stopped");
  assert.equal(await fetch(`${base}/healthz`).then(() => true, () => false), false, "wrangler stopped");
});

// Budgets that bind as shipped (issue 28), in workerd with the real Durable
// Objects and alarms: every call is charged at a price (published, the
// shipped MODEL_PRICES, else the assumed price), refused answers and dropped
// streams included; the deployment's budget is spent in slices held by the
// callers' objects, so the deployment's object is asked rarely.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { BASE_VARS, CATALOG, STATE_VARS, TOKEN, startWorker, step } from "./harness.mjs";

const ADMIN = BASE_VARS.ADMIN_TOKEN;
const USD_PER_NEURON = 0.011 / 1000;
const DEFAULT = BASE_VARS.DEFAULT_MODEL;
const FALLBACK = BASE_VARS.FALLBACK_MODELS;
/** The prices the Worker counts, dollars per million input and output tokens. */
const SHIPPED = Object.fromEntries(
  BASE_VARS.MODEL_PRICES.split(",").map((p) => {
    const [id, price] = p.split("=");
    const [i, o] = price.split("/").map(Number);
    return [id, { i, o }];
  }),
);
const published = (id) => {
  const p = CATALOG.models.find((m) => m.id === id)?.price;
  return p && { i: p.input_per_m, o: p.output_per_m };
};
const neurons = (price, u) => (u.prompt_tokens * price.i + u.completion_tokens * price.o) / 1e6 / USD_PER_NEURON;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const ROOM = {
  broadcaster: "Luna",
  context: [
    { type: "chat", text: "Max: hi Luna, how is your evening?", timestamp: "2026-11-30T10:00:00.000Z" },
    { type: "tip", text: "Ana tipped 25 tokens", timestamp: "2026-11-30T10:00:05.000Z" },
  ],
};
const post = (w, body, token = TOKEN) => w.post("/api/generate-prompt", body, { Authorization: `Bearer ${token}` });

async function usage(w) {
  const resp = await w.fetch("/admin/usage", { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(resp.status, 200);
  return resp.json();
}

/** The usage report once `n` requests are in it (callers report within USAGE_REPORT_SECONDS). */
async function reported(w, n) {
  for (let i = 0; i < 300; i++) {
    const u = await usage(w);
    if (u.rows.reduce((s, r) => s + r.requests, 0) >= n) return u;
    await sleep(100);
  }
  throw new Error(`usage never reached ${n} requests`);
}

/** Distinct lines, so the caller's memory never refuses one as a repeat. */
const WORDS = ["apple", "river", "candle", "moon", "guitar", "forest", "pillow", "rocket", "violin", "garden", "ocean", "tiger", "lemon", "cloud", "piano", "desert", "mirror", "comet", "meadow", "anchor"];
const line = (i) => `Ask chat about ${WORDS[i % 20]}, ${WORDS[(i * 7 + 3) % 20]} and ${WORDS[(i * 13 + 5) % 20]} tonight.`;

describe("budgets that bind as shipped", { timeout: 240_000 }, () => {
  test("a small budget stops model calls, never past it; every call is charged what it reported, refused answers included", async () => {
    const budget = 600;
    const w = await startWorker({ vars: { ...STATE_VARS, DAILY_NEURON_BUDGET: String(budget) } });
    try {
      const u = { prompt_tokens: 3000, completion_tokens: 60 };
      // Every other answer is a refusal (judged unfit, paid for all the same).
      let n = 0;
      w.sim.script(
        "*",
        step.pick(() => step.answer(n++ % 2 ? line(n) : "I'm sorry, but I can't help with that request.", { usage: u })),
      );
      // Until three requests in a row, each after the callers reported and
      // gave their slices back, still find the budget spent.
      let sent = 0;
      let over = null;
      let refusedInARow = 0;
      while (refusedInARow < 3 && sent < 300) {
        const body = await (await post(w, { ...ROOM, broadcaster: `B${sent}` })).json();
        sent += 1;
        if (body.over_budget) {
          over = body;
          refusedInARow += 1;
          await sleep(1_300);
        } else refusedInARow = 0;
      }
      assert.equal(over?.over_budget, "deployment", "the budget never bound");
      const expected = w.sim.calls.reduce((s, c) => s + neurons(SHIPPED[c.model] ?? published(c.model), u), 0);
      const report = await reported(w, sent);
      const recorded = report.rows.reduce((s, r) => s + r.neurons, 0);
      console.log(
        `budget ${budget} neurons: ${sent} requests, ${w.sim.calls.length} model calls (half of them refused answers); ` +
          `recorded ${recorded.toFixed(2)} neurons, the calls reported ${expected.toFixed(2)}`,
      );
      assert.ok(Math.abs(recorded - expected) < 1e-6 * expected, `${recorded} recorded, ${expected} reported`);
      assert.ok(recorded <= budget, `spent ${recorded} of ${budget}`);
      // It stopped within one request's worst case of the budget.
      assert.ok(recorded > budget / 2, `stopped early: ${recorded} of ${budget}`);
    } finally {
      await w.dispose();
    }
  });

  test("a model with no price is counted at the assumed price, never free", async () => {
    const w = await startWorker({ vars: { ...STATE_VARS, MODEL_PRICES: "", FALLBACK_MODELS: "" } });
    try {
      const u = { prompt_tokens: 500, completion_tokens: 20 };
      w.sim.script("*", step.answer(line(1), { usage: u }));
      await post(w, ROOM);
      const report = await reported(w, 1);
      const assumed = report.pricing.models.find((m) => m.model === "*").usd_per_m;
      const expected = neurons({ i: assumed.input_per_m, o: assumed.output_per_m }, u);
      assert.ok(expected > 0);
      assert.ok(Math.abs(report.rows[0].neurons - expected) < 1e-9, JSON.stringify(report.rows));
      assert.equal(report.rows[0].unpriced, 1, "counted at the assumed price");
      assert.equal(report.pricing.models.find((m) => m.model === DEFAULT).source, "assumed");
    } finally {
      await w.dispose();
    }
  });

  test("a stream the client drops is paid for, and what it set aside goes back", async () => {
    const w = await startWorker({ vars: STATE_VARS });
    try {
      w.sim.script("*", step.tokens(["Ask chat", " about their", " favourite", " song tonight,", " friend."], { gateAfter: 3 }));
      const resp = await w.post("/api/generate-prompt", { ...ROOM, stream: true }, { Accept: "text/event-stream" });
      const reader = resp.body.getReader();
      await reader.read(); // the first words
      await reader.cancel();
      w.sim.openGate();
      const report = await reported(w, 1);
      await sleep(1500); // the alarm gives the slice back
      const day = (await usage(w)).days[0];
      console.log(`dropped stream: recorded ${report.rows[0].neurons.toFixed(3)} neurons; after the report ${day.neurons.toFixed(3)} spent, ${day.left.toFixed(3)} left of 10,000`);
      assert.ok(report.rows[0].neurons > 0, "the dropped call is paid for");
      assert.ok(Math.abs(day.left + day.neurons - 10_000) < 1e-6, `nothing stays set aside: ${JSON.stringify(day)}`);
    } finally {
      await w.dispose();
    }
  });
});

describe("many callers at once", { timeout: 240_000 }, () => {
  const dir = (() => {
    mkdirSync("target/bench", { recursive: true });
    const d = mkdtempSync("target/bench/budget-do-");
    copyFileSync("build/index.js", join(d, "coach.mjs"));
    copyFileSync("build/index_bg.wasm", join(d, "index_bg.wasm"));
    copyFileSync("bench/count-do.mjs", join(d, "count-do.mjs"));
    return d;
  })();
  after(() => rmSync(dir, { recursive: true, force: true }));

  // A budget well above what 50 callers' worst cases hold at once (each
  // request sets about 150 neurons aside on the shipped chain): the steady
  // state. Near the budget's end, callers ask for slices more often.
  test("50 callers, 1,000 requests, 50 at a time: two caller-object requests each, the deployment's object rarely", async () => {
    const tokens = Array.from({ length: 50 }, (_, i) => `caller-token-${String(i).padStart(4, "0")}-abcdef`);
    const w = await startWorker({
      scriptPath: join(dir, "count-do.mjs"),
      state: true,
      vars: {
        ...STATE_VARS,
        DAILY_NEURON_BUDGET: "100000",
        USAGE_REPORT_SECONDS: "60",
        API_TOKENS: tokens.join(","),
        RATE_LIMIT_PER_MINUTE: "10000",
        MODEL_TIMEOUT_MS: "8000",
        REQUEST_DEADLINE_MS: "14000",
      },
    });
    try {
      let n = 0;
      w.sim.script("*", step.pick(() => step.answer(line(n++), { usage: { prompt_tokens: 400, completion_tokens: 20 } })));
      let next = 0;
      let overBudget = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next < 1000) {
            const i = next++;
            const resp = await post(w, { ...ROOM, broadcaster: `R${i}` }, tokens[i % 50]);
            assert.equal(resp.status, 200);
            if ((await resp.json()).over_budget) overBudget += 1;
          }
        }),
      );
      await sleep(300); // the records, after the responses
      const counts = await (await w.fetch("/__bench/do-requests")).json();
      const u = await usage(w);
      const caller = Object.entries(counts).filter(([k]) => k.startsWith("caller")).reduce((s, [, v]) => s + v, 0);
      const deployment = (u.deployment_requests ?? []).reduce((s, d) => s + d.n, 0);
      const total = caller + deployment;
      console.log(
        `many callers: 1000 requests in ${((Date.now() - started) / 1000).toFixed(1)} s; Durable Object requests per request: ` +
          `caller ${(caller / 1000).toFixed(3)} (${JSON.stringify(counts)}), deployment ${(deployment / 1000).toFixed(3)} ` +
          `(${deployment} slice asks); the deployment's share ${((100 * deployment) / total).toFixed(1)}%; ` +
          `answered by the rules coach for the budget: ${overBudget}`,
      );
      assert.deepEqual(Object.keys(counts).filter((k) => k.startsWith("deployment")), [], "the Worker itself never calls the deployment's object");
      assert.ok(caller / 1000 <= 2.001, `${caller} caller requests`);
      assert.ok(deployment / total < 0.05, `the deployment's object saw ${deployment} of ${total}`);
      assert.equal(overBudget, 0, "the day's budget holds 50 callers' worst cases");
      const spent = (await usage(w)).days[0];
      console.log(`many callers: the deployment's budget ${spent.budget}, reported spent ${spent.neurons.toFixed(1)}, left ${spent.left.toFixed(1)} (slices outstanding)`);
    } finally {
      await w.dispose();
    }
  });
});

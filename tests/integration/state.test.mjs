// Per-caller state in Durable Objects (RATE_LIMIT_STORE=do, as wrangler.toml
// ships it), in workerd with real SQLite-backed Durable Objects: exact windows
// under concurrency, the memory of what was said, usage priced from the
// published catalog, the daily budgets, the failure policy, and no KV write
// per request. The simulated model is the harness's.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { CATALOG, EXAMPLE, STATE_VARS, clearOfMinuteEdge, expectError, startWorker, step, TOKEN } from "./harness.mjs";

const ADMIN = "admin-token-0123456789abcdef";
const PRICED = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
const PRICE = CATALOG.models.find((m) => m.id === PRICED).price;
const USD_PER_NEURON = 0.011 / 1000;

/** A room that does not change, from a client that sends no `recent`. */
const ROOM = {
  broadcaster: "Luna",
  context: [
    { type: "chat", text: "Max: hi Luna, how is your evening?", timestamp: "2026-11-30T10:00:00.000Z" },
    { type: "tip", text: "Ana tipped 25 tokens", timestamp: "2026-11-30T10:00:05.000Z" },
    { type: "event", text: "Bo entered the room", timestamp: "2026-11-30T10:00:07.000Z" },
  ],
};

const post = (w, body, token = TOKEN) => w.post("/api/generate-prompt", body, { Authorization: `Bearer ${token}` });

async function usage(w, query = "") {
  const resp = await w.fetch(`/admin/usage${query}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(resp.status, 200, await resp.clone().text());
  return resp.json();
}

/** Waits until the usage table has `n` requests (recording runs after the answer). */
async function recorded(w, n) {
  for (let i = 0; i < 200; i++) {
    const u = await usage(w);
    const total = u.rows.reduce((s, r) => s + r.requests, 0);
    if (total >= n) return u;
    await sleep(20);
  }
  throw new Error(`usage never reached ${n} requests`);
}

/** Forty different things a coach might say, no two nearly alike. */
const LINES = [
  "Max, my evening is lovely, thanks for asking!",
  "Thank you Ana for the tokens, you're sweet!",
  "Welcome in, Bo, glad you made it!",
  "Tell me what you're all drinking tonight.",
  "Who wants to pick the next song?",
  "Let's play a quick game in chat, who's in?",
  "What should we do for the next ten minutes?",
  "Tell me one good thing from your day.",
  "Stretch break! Everyone roll your shoulders with me.",
  "Which city are you watching from?",
  "Guess what I had for dinner, winner gets a shoutout.",
  "Rate my playlist so far, one to ten.",
  "Anyone else up way too late tonight?",
  "I love how friendly this room feels.",
  "Should I change the lights to purple?",
  "Name a movie everybody should watch once.",
  "Quick poll: cats or dogs?",
  "Share your weirdest hobby in chat.",
  "What's the best pizza topping, honestly?",
  "Let's count to twenty together, one number each.",
  "Tell me a joke and I'll rate it.",
  "Who has a birthday coming up soon?",
  "Sunrise person or sunset person?",
  "Describe your mood with a single colour.",
  "What's on your bucket list this year?",
  "If you could teleport anywhere right now, where?",
  "Coffee or tea keeps you going?",
  "Teach me a word from your language.",
  "What was your first concert?",
  "Pick a dare for me, keep it friendly.",
  "Favourite season and why?",
  "Beach holiday or mountain cabin?",
  "What game are you playing lately?",
  "Recommend me a book, any genre.",
  "Who taught you to cook, if anyone?",
  "Pineapple on pizza: yes or absolutely not?",
  "What song is stuck in your head?",
  "Best snack for a long stream?",
  "What's your hidden talent?",
  "Morning gym or evening gym?",
];

/** A sampled model's answers: mostly new lines, about one in three a line it gave before. */
function sampledAnswers(n) {
  const out = [];
  let next = 0;
  for (let i = 0; i < n; i++) {
    const repeat = out.length > 0 && i % 3 === 2;
    out.push(repeat ? out[(i * 7) % out.length] : LINES[next++ % LINES.length]);
  }
  return out;
}

describe("exact windows in the caller's object", () => {
  let w;
  before(async () => (w = await startWorker({ vars: { ...STATE_VARS, RATE_LIMIT_PER_MINUTE: "50" }, kvProbe: true })));
  after(() => w.dispose());

  test("of 51 concurrent requests against a limit of 50, exactly one is refused, and none writes KV", async () => {
    await clearOfMinuteEdge();
    const before = w.probe.count("put");
    const responses = await Promise.all(Array.from({ length: 51 }, () => post(w, EXAMPLE)));
    const statuses = responses.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 50, statuses.join(","));
    assert.equal(statuses.filter((s) => s === 429).length, 1);
    const refused = responses.find((r) => r.status === 429);
    await expectError(refused, 429, "rate_limited");
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    const remaining = responses.filter((r) => r.status === 200).map((r) => Number(r.headers.get("ratelimit-remaining")));
    assert.deepEqual([...remaining].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), "each a distinct count");
    assert.equal(w.probe.count("put") - before, 0, "0 KV writes per generate request");
  });
});

describe("memory of what was said", () => {
  let w;
  before(async () => (w = await startWorker({ vars: { ...STATE_VARS, RATE_LIMIT_PER_MINUTE: "1000" } })));
  after(() => w.dispose());

  test("30 prompts of one unchanging room, no `recent` sent: no line is spoken twice", async () => {
    const answers = sampledAnswers(200).map((line) => step.answer(JSON.stringify({ action: "say", content: line })));
    w.sim.script("*", ...answers);
    const spoken = [];
    for (let i = 0; i < 30; i++) {
      const resp = await post(w, ROOM);
      const body = await resp.json();
      assert.equal(resp.status, 200, JSON.stringify(body));
      spoken.push(body.content);
      await sleep(30); // the line is recorded after the answer goes out
    }
    const offered = w.sim.calls.filter((c) => !c.refused).length;
    const twice = spoken.filter((line, i) => spoken.indexOf(line) !== i);
    assert.deepEqual(twice, [], `repeated: ${JSON.stringify(twice)}`);
    assert.ok(offered > 30, `the model repeated itself and was asked again (${offered} calls)`);
  });

  test("the lines a client sends in `recent` are merged in", async () => {
    const fresh = "A line the frontend spoke itself, never said here.";
    w.sim.script("*", step.answer(JSON.stringify({ action: "say", content: fresh })), step.answer(JSON.stringify({ action: "say", content: "Something else entirely for the room." })));
    const body = await (await post(w, { ...ROOM, broadcaster: "Nova", recent: [fresh] }, "second-token-0123456789abcdef")).json();
    assert.notEqual(body.content, fresh);
  });
});

describe("usage and budgets", () => {
  test("usage totals equal the sum of what the answers reported, priced from the catalog", async () => {
    const w = await startWorker({ vars: { ...STATE_VARS, DEFAULT_MODEL: PRICED, FALLBACK_MODELS: "" } });
    try {
      const reported = [];
      for (let i = 0; i < 6; i++) {
        const u = { prompt_tokens: 300 + i, completion_tokens: 10 + i };
        w.sim.script("*", step.answer(JSON.stringify({ action: "say", content: LINES[i] }), { usage: u }));
        const body = await (await post(w, { ...ROOM, broadcaster: `B${i}` })).json();
        assert.deepEqual(body.usage, u, JSON.stringify(body));
        reported.push(body.usage);
      }
      const u = await recorded(w, 6);
      const sum = (k) => reported.reduce((s, r) => s + r[k], 0);
      const row = u.rows.find((r) => r.model === PRICED);
      assert.equal(row.requests, 6);
      assert.equal(row.prompt_tokens, sum("prompt_tokens"));
      assert.equal(row.completion_tokens, sum("completion_tokens"));
      const usd = (sum("prompt_tokens") * PRICE.input_per_m + sum("completion_tokens") * PRICE.output_per_m) / 1e6;
      assert.ok(Math.abs(row.usd - usd) < 1e-12, `${row.usd} vs ${usd}`);
      assert.ok(Math.abs(row.neurons - usd / USD_PER_NEURON) < 1e-6);
      assert.equal(u.days[0].neurons.toFixed(9), row.neurons.toFixed(9));
      assert.equal(u.callers.length, 1);
    } finally {
      await w.dispose();
    }
  });

  test("a deployment budget of N neurons stops model calls within one request of N", async () => {
    const big = { prompt_tokens: 4000, completion_tokens: 90 };
    const perRequest = ((big.prompt_tokens * PRICE.input_per_m + big.completion_tokens * PRICE.output_per_m) / 1e6) / USD_PER_NEURON;
    const budget = 200;
    const w = await startWorker({ vars: { ...STATE_VARS, DEFAULT_MODEL: PRICED, FALLBACK_MODELS: "", DAILY_NEURON_BUDGET: String(budget) } });
    try {
      w.sim.script("*", ...LINES.map((l) => step.answer(JSON.stringify({ action: "say", content: l }), { usage: big })));
      let byModel = 0;
      let overBudget = null;
      for (let i = 0; i < 40 && !overBudget; i++) {
        const body = await (await post(w, { ...ROOM, broadcaster: `C${i}` })).json();
        if (body.over_budget) overBudget = body;
        else if (body.model === PRICED) byModel += 1;
        await sleep(30);
      }
      assert.ok(overBudget, "the budget was never reached");
      assert.equal(overBudget.over_budget, "deployment");
      const u = await recorded(w, byModel + 1);
      const spent = u.days[0].neurons;
      console.log(`deployment budget ${budget} neurons: spent ${spent.toFixed(1)} by ${byModel} model answers (one request: ${perRequest.toFixed(1)})`);
      assert.ok(spent <= budget + perRequest, `spent ${spent} of ${budget} (one request: ${perRequest})`);
      assert.ok(spent >= budget - 2 * perRequest - 60, `stopped too early: ${spent}`);
      const log = w.logs.join("\n");
      assert.match(log, /"over_budget":"deployment"/, "the log line says which budget");
    } finally {
      await w.dispose();
    }
  });

  test("a caller's daily allowance sends that caller, and only it, to the rules coach", async () => {
    const w = await startWorker({ vars: { ...STATE_VARS, DEFAULT_MODEL: PRICED, FALLBACK_MODELS: "", CALLER_DAILY_NEURONS: "300", DAILY_NEURON_BUDGET: "off" } });
    try {
      const big = { prompt_tokens: 4000, completion_tokens: 90 };
      w.sim.script("*", ...LINES.map((l) => step.answer(JSON.stringify({ action: "say", content: l }), { usage: big })));
      let over = null;
      for (let i = 0; i < 10 && !over; i++) {
        const body = await (await post(w, { ...ROOM, broadcaster: `D${i}` })).json();
        if (body.over_budget) over = body;
        await sleep(30);
      }
      assert.equal(over?.over_budget, "caller");
      assert.equal(over.model, "rules");
      const other = await (await post(w, { ...ROOM, broadcaster: "Other" }, "second-token-0123456789abcdef")).json();
      assert.equal(other.model, PRICED, "another caller still gets the model");
      // The allowance binds before it is passed: a request that could cost
      // more than is left (its worst case set aside) goes to the rules coach.
      const u = await recorded(w, 3);
      const first = u.callers.reduce((a, b) => (a.neurons > b.neurons ? a : b));
      assert.ok(first.requests >= 2 && first.neurons <= 300, JSON.stringify(u.callers));
    } finally {
      await w.dispose();
    }
  });

  test("GET /admin/usage needs the admin token and checks its dates", async () => {
    const w = await startWorker({ vars: STATE_VARS });
    try {
      const anon = await w.fetch("/admin/usage");
      assert.equal(anon.status, 401);
      const bad = await w.fetch("/admin/usage?from=2026-11-31", { headers: { Authorization: `Bearer ${ADMIN}` } });
      await expectError(bad, 400, "invalid_request");
      const backwards = await usage(w, "?from=2026-11-30&to=2026-10-01");
      assert.deepEqual([backwards.from, backwards.to], ["2026-10-01", "2026-10-31"]);
      const u = await usage(w, "?day=2026-11-01");
      assert.deepEqual([u.from, u.to, u.rows], ["2026-11-01", "2026-11-01", []]);
    } finally {
      await w.dispose();
    }
  });
});

describe("a state object that cannot be reached", () => {
  for (const [mode, status] of [["closed", 503], ["open", 200]]) {
    test(`STATE_FAILURE_MODE=${mode}: ${status}`, async () => {
      const w = await startWorker({ vars: { ...STATE_VARS, STATE_FAILURE_MODE: mode }, brokenState: true });
      try {
        const resp = await post(w, EXAMPLE);
        if (status === 503) await expectError(resp, 503, "storage_unavailable");
        else assert.equal(resp.status, 200, await resp.text());
        assert.match(w.logs.join("\n"), /"event":"state_error"/);
      } finally {
        await w.dispose();
      }
    });
  }
});

describe("AI Gateway", () => {
  test("AI_GATEWAY_ID reaches the binding's gateway option; unset, no gateway is sent", async () => {
    const w = await startWorker({ vars: { ...STATE_VARS, AI_GATEWAY_ID: "coach-gw" } });
    try {
      await post(w, EXAMPLE);
      assert.deepEqual(w.sim.calls.at(-1).gateway, { id: "coach-gw" });
    } finally {
      await w.dispose();
    }
    const plain = await startWorker({ vars: STATE_VARS });
    try {
      await post(plain, EXAMPLE);
      assert.equal(plain.sim.calls.at(-1).gateway, null);
    } finally {
      await plain.dispose();
    }
  });
});

// What the broadcaster hears over a whole session: the real coach frontend
// (unchanged, in Chromium, same-origin with the built Worker, as in
// frontend.test.mjs) in two rooms at once for SESSION_MINUTES (default 3.2):
//
// - a busy room, one event every 2 to 3 s: tips (some viewers tip twice),
//   questions to the broadcaster, newcomers who enter and then say their
//   first words, and chatter between viewers;
// - a quiet room, one event every 30 to 35 s.
//
// The simulated model answers as a sampled model does, differently call by
// call (harness step.pick, seeded): lines naming the room's viewers it reads
// in the prompt, generic lines, "nothing to add" lines, lines naming people
// who are not in the room, and lines it already said.
//
// Every utterance the app passes to speechSynthesis is recorded with its time,
// and the figures of each room are printed before anything is asserted: what
// was asked and answered, model calls, what was spoken and how fast (words a
// minute, and the earpiece's queue at 150 words a minute), lines that say there
// is nothing to say, lines said twice, tippers thanked by name, questions
// surfaced, and names spoken that the request's context does not carry.
//
// SESSION_MINUTES shortens the session for a local run; SESSION_PACE_VARS (a
// JSON object) adds vars to both Workers; SESSION_SCRIPT runs another build
// (its index.js, e.g. an older commit's, for before-and-after figures);
// SESSION_TRANSCRIPT=1 prints every spoken line.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { FRONTEND, TRIGGERS, eventsUrlOf, frontendFound, of, openApp, roomOf, sleep, storageItem, waitFor } from "./app.mjs";
import { launchBrowser, spoken } from "./browser.mjs";
import { CATALOG, GUARD, STATE_VARS, startWorker, step } from "./harness.mjs";

const SESSION_MINUTES = Number(process.env.SESSION_MINUTES ?? 3.2);
const SESSION_MS = Math.round(SESSION_MINUTES * 60_000);
/** Vars of the Worker's pacing, if any, for both rooms' Workers. */
const PACE_VARS = process.env.SESSION_PACE_VARS ? JSON.parse(process.env.SESSION_PACE_VARS) : {};
/** The build under test (another build's index.js with SESSION_SCRIPT). */
const SCRIPT = process.env.SESSION_SCRIPT ?? "build/index.js";
const SESSION_SECRET = "test-session-secret-0123456789abcdef";
const GENERATE = "/api/generate-prompt";

/** A line that says there is nothing to say. */
export const NOTHING_NOW = /nothing (needs|to)|keep going|no need to|nothing (new|right now)/i;

/** The earpiece's voice: 150 words a minute. */
const SECONDS_PER_WORD = 0.4;
/** A question counts as surfaced when a line names its asker within this long. */
const SURFACED_WITHIN_MS = 30_000;

// The targets.
const BUSY_MAX_WORDS_PER_MINUTE = 45;
const BUSY_MAX_QUEUE_S = 5;
const BUSY_MAX_MODEL_CALLS_PER_REQUEST = 0.5;

/** A seeded generator of numbers in [0, 1) (mulberry32). */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const choice = (rand, xs) => xs[Math.floor(rand() * xs.length)];
function shuffled(rand, xs) {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// ---------------------------------------------------------------------------
// The rooms.

const BUSY = {
  label: "busy",
  broadcaster: "zoe_live",
  token: "busyT0kenABCDEFGH1234567",
  subject: "Friday night chill, new playlist",
  seed: 20261207,
};
const QUIET = {
  label: "quiet",
  broadcaster: "ava_rose",
  token: "quietT0kenABCDEFGH123456",
  subject: "Slow morning coffee stream",
  seed: 7,
};

const TIPPERS = ["lulu_b", "sara_k", "max_power", "pete_42", "kiki_v", "bruno_v", "tess_m"];
const TIP_TWICE = ["lulu_b", "max_power", "kiki_v"];
const CHATTERS = ["jojo_x", "rio_77", "tess_m", "bruno_v", "sara_k", "pete_42", "lulu_b"];
const NEWCOMERS = ["gabi_g", "ollie_k", "nina_lee", "fern_t", "hugo_b", "ivy_rae", "cleo_p", "remy_d"];
const QUESTIONS = [
  "can you say hi to me?",
  "what are you drinking?",
  "where are you from?",
  "zoe what song is this?",
  "how was your day?",
  "can you play some rock next?",
  "do you have any pets?",
  "what are you doing this weekend?",
];
const CHATTER = ["lol", "nice music", "haha same", "this song is so good", "brb", "lmao", "so chill in here", "hi all", "true"];
const FIRST_WORDS = ["first time here, hi everyone!", "hey all, first time here", "hi! first time here :)"];
const TIP_NOTES = ["", "", "love this song", "for the smile", ""];
const AMOUNTS = [10, 15, 20, 25, 35, 50, 75, 100];

/**
 * The busy room's events over `ms`: `{at, event, kind, user}`, `at` from the
 * session's start, one every 2 to 3 s.
 */
function busyPlan(ms, seed = BUSY.seed) {
  const rand = seeded(seed);
  const room = roomOf(BUSY.broadcaster);
  const slots = [];
  for (let t = 1_000; t < ms; t += 2_000 + Math.floor(rand() * 1_000)) slots.push(t);
  const n = slots.length;
  const tips = [...shuffled(rand, TIPPERS), ...shuffled(rand, TIP_TWICE)].slice(0, Math.min(10, Math.max(2, Math.round(n * 0.14))));
  const questions = Math.max(1, Math.round(n * 0.16));
  const enters = Math.min(NEWCOMERS.length, Math.max(1, Math.round(n * 0.09)));
  const chatter = Math.max(0, n - tips.length - questions - 2 * enters);
  const bag = shuffled(rand, [
    ...tips.map(() => "tip"),
    ...Array(questions).fill("question"),
    ...Array(enters).fill("enter"),
    ...Array(chatter).fill("chatter"),
  ]);
  const newcomers = [...NEWCOMERS];
  const pending = []; // newcomers in, not yet talking: {user, slot}
  const plan = [];
  let q = 0;
  slots.forEach((at, i) => {
    const due = pending.length && i - pending[0].slot >= 2;
    let kind = due && (rand() < 0.5 || n - i <= pending.length || !bag.length) ? "first" : bag.shift() ?? "chatter";
    if (kind === "enter" && !newcomers.length) kind = "chatter";
    switch (kind) {
      case "tip": {
        const user = tips.shift();
        plan.push({ at, kind, user, event: room.tip(user, choice(rand, AMOUNTS), choice(rand, TIP_NOTES)) });
        break;
      }
      case "question": {
        const user = choice(rand, [...TIPPERS, ...CHATTERS]);
        plan.push({ at, kind, user, event: room.chat(user, QUESTIONS[q++ % QUESTIONS.length]) });
        break;
      }
      case "enter": {
        const user = newcomers.shift();
        pending.push({ user, slot: i });
        plan.push({ at, kind, user, event: room.enter(user) });
        break;
      }
      case "first": {
        const { user } = pending.shift();
        plan.push({ at, kind, user, event: room.chat(user, choice(rand, FIRST_WORDS)) });
        break;
      }
      default: {
        const user = choice(rand, CHATTERS);
        plan.push({ at, kind: "chatter", user, event: room.chat(user, choice(rand, CHATTER)) });
      }
    }
  });
  return plan;
}

/** The quiet room's events over `ms`, one every 30 to 35 s. */
function quietPlan(ms, seed = QUIET.seed) {
  const rand = seeded(seed);
  const room = roomOf(QUIET.broadcaster);
  const script = [
    { kind: "enter", user: "nora_j", event: room.enter("nora_j") },
    { kind: "question", user: "nora_j", event: room.chat("nora_j", "hey ava, how is your morning going?") },
    { kind: "tip", user: "theo_m", event: room.tip("theo_m", 25, "coffee money") },
    { kind: "enter", user: "wren_s", event: room.enter("wren_s") },
    { kind: "question", user: "wren_s", event: room.chat("wren_s", "where are you from?") },
    { kind: "chatter", user: "theo_m", event: room.chat("theo_m", "love the lights in here") },
    { kind: "tip", user: "nora_j", event: room.tip("nora_j", 15) },
  ];
  const plan = [];
  for (let at = 4_000, i = 0; at < ms && i < script.length; at += 30_000 + Math.floor(rand() * 5_000), i++) {
    plan.push({ at, ...script[i] });
  }
  return plan;
}

/** Every viewer of both rooms (the simulated model looks for them in its input). */
const ROSTER = [...new Set([...TIPPERS, ...CHATTERS, ...NEWCOMERS, "nora_j", "theo_m", "wren_s"])];

// ---------------------------------------------------------------------------
// The simulated model.

/** People who are in neither room, whom the simulated model names now and then. */
const STRANGERS = ["Mary", "Jessica", "Brandon", "Tyler", "Chloe"];
const STRANGER_LINES = [
  "Thanks for the tip, Mary! What song should I play next?",
  "Say hi to Jessica and ask how her week went.",
  "Welcome back, Brandon, we missed you tonight!",
  "Give Tyler a shout out for sticking around all night.",
  "Thank big_tony_77 for the follow and blow a kiss.",
  "Chloe asked for a dance, stand up and give her one.",
];
const GENERIC_LINES = [
  "Ask the room what song they want to hear next.",
  "Tell everyone you love the vibe in here tonight.",
  "Take a sip of your drink and smile at the camera.",
  "Ask the room where everyone is watching from.",
  "Stretch a little and tell chat you are glad they came.",
];
const NOTHING_LINES = [
  { action: "wait", content: "Nothing needs an answer right now, keep going." },
  { action: "wait", content: "No need to say anything, keep going." },
  { action: "say", content: "Nothing new right now, just enjoy the music." },
  { action: "wait", content: "Nothing to add, the room is doing fine." },
];
const TIP_LINES = ["Thank {N} for the tip, that was so sweet!", "Big thanks to {N} for the tokens!", "{N}, thank you so much for the tip!"];
const QUESTION_LINES = ["{N} asked you something, answer with a smile.", "Answer {N} and ask a question back."];
const WELCOME_LINES = ["Welcome {N} in and ask where they are watching from.", "Say hi to {N}, it is their first time here."];
const HELLO_LINES = ["Say hi to {N} and ask how their night is going.", "Give {N} a wave and thank them for chatting."];

/** The first run of three letters or more of a username: `lulu_b` → "lulu", `pete_42` → "pete". */
const handleOf = (username) => (username.match(/[A-Za-z]{3,}/) ?? [username])[0];
/** Whether `line` names `username`, leniently: a word of it starts with the username's handle. */
const names = (line, username) => new RegExp(`\\b${handleOf(username)}`, "i").test(line);
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The roster's viewers that `text` mentions, by their last mention, with how the prompt says to call them. */
function viewersIn(text) {
  const lower = text.toLowerCase();
  return ROSTER.map((user) => ({ user, at: lower.lastIndexOf(user.toLowerCase()) }))
    .filter((v) => v.at >= 0)
    .sort((a, b) => a.at - b.at)
    .map(({ user, at }) => {
      const said = text.match(new RegExp(`${escapeRe(user)} \\(say "([^"]+)"\\)`, "i"))?.[1];
      const name = said ?? handleOf(user)[0].toUpperCase() + handleOf(user).slice(1);
      const end = text.indexOf("\n", at);
      const line = text.slice(text.lastIndexOf("\n", at) + 1, end < 0 ? text.length : end);
      return { user, name, line };
    });
}

/**
 * The simulated model: per call a line drawn (seeded) as a sampled model
 * would: a viewer of the prompt's room named (40%), a generic line (15%),
 * nothing to add (13%), someone who is not in the room (15%), or a line it
 * returned before (17%).
 */
function sampledModel(seed) {
  const rand = seeded(seed);
  const said = [];
  return step.pick((input, n, model) => {
    if (model === GUARD) return step.answer(input.response_format ? { safe: true, categories: [] } : "safe");
    const text = (input.messages ?? []).map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content))).join("\n");
    const viewers = viewersIn(text);
    const r = rand();
    let answer;
    if (r < 0.4 && viewers.length) {
      const v = rand() < 0.6 ? viewers.at(-1) : choice(rand, viewers);
      const lines = /tip/i.test(v.line)
        ? TIP_LINES
        : /\?/.test(v.line)
          ? QUESTION_LINES
          : /enter|came in|first time|join/i.test(v.line)
            ? WELCOME_LINES
            : HELLO_LINES;
      answer = { action: "say", content: choice(rand, lines).replace("{N}", v.name) };
    } else if (r < 0.55) {
      answer = { action: "say", content: choice(rand, GENERIC_LINES) };
    } else if (r < 0.68) {
      answer = choice(rand, NOTHING_LINES);
    } else if (r < 0.83 || !said.length) {
      answer = { action: "say", content: choice(rand, STRANGER_LINES) };
    } else {
      answer = choice(rand, said);
    }
    said.push(answer);
    if (input.stream === true) return step.answer(answer.action === "wait" ? "WAIT" : answer.content);
    const json = JSON.stringify(answer);
    return CATALOG.models.find((m) => m.id === model)?.answer === "choices"
      ? step.object({ choices: [{ message: { content: json }, finish_reason: "stop" }] })
      : step.answer(json);
  });
}

// ---------------------------------------------------------------------------
// A session.

/** Plays `plan` to the app in a fresh browser context, served by a Worker of its own. */
async function runRoom(browser, spec, plan) {
  const room = roomOf(spec.broadcaster);
  const eventsUrl = eventsUrlOf(spec.broadcaster, spec.token);
  // Never throws: what went wrong is the run's `error`, and the figures say how far it got.
  const run = { spec, w: null, plan, pushed: [], said: [] };
  try {
    const w = await startWorker({
      assets: FRONTEND,
      vars: { ...STATE_VARS, SESSION_KEYS: "open", SESSION_SECRET, ...PACE_VARS },
      ratelimits: { SESSION_KEY_LIMITER: { simple: { limit: 100, period: 60 } } },
      scriptPath: SCRIPT,
      state: true,
    });
    run.w = w;
    w.sim.script("*", sampledModel(spec.seed));
    run.context = await browser.createBrowserContext();
    run.app = await openApp(run.context, w, {
      eventsUrl,
      timedSpeech: true,
      storage: {
        chatCoachConfig: {
          broadcasterName: spec.broadcaster,
          scannedUrl: eventsUrl,
          promptDelay: 10,
          preferences: "Keep it friendly.",
          audioEnabled: true,
        },
      },
    });
    const { app } = run;
    await waitFor("the session key in localStorage", () => storageItem(app.page, "chatCoachSession"), 10_000).catch(() => {});
    await waitFor("the first poll of the events API", () => app.events.polls.length > 0);
    app.events.push(room.broadcastStart());
    app.events.push(room.subject(spec.subject));
    await sleep(500);
    run.start = Date.now();
    for (const p of plan) {
      const wait = run.start + p.at - Date.now();
      if (wait > 0) await sleep(wait);
      app.events.push(p.event);
      run.pushed.push({ ...p, pushAt: Date.now() });
    }
    // The last requests answered, and spoken.
    const sent = () => app.requests.filter((r) => r.method === "POST" && r.path === GENERATE).length;
    await sleep(1_000);
    await waitFor("every suggestion request answered", () => of(app, "POST", GENERATE).length >= sent(), 20_000).catch(() => {});
    await sleep(1_000);
    run.said = await spoken(app.page);
  } catch (e) {
    run.error = e;
    if (run.app) run.said = await spoken(run.app.page).catch(() => []);
  }
  run.end = Date.now();
  run.start ??= run.end;
  return run;
}

const contentOf = (res) => {
  try {
    return String(JSON.parse(res.body).content ?? "").trim();
  } catch {
    return null;
  }
};
const wordsOf = (text) => text.split(/\s+/).filter(Boolean).length;
const normalized = (text) =>
  text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, "")
    .replace(/\s+/g, " ")
    .trim();
const USERNAME_SHAPED = /^[A-Za-z]+(?:_[A-Za-z0-9]+)+$|^[A-Za-z]+\d+$/;

/** The figures of one session. */
function figuresOf(run) {
  const { app, w, pushed } = run;
  const sent = app?.requests.filter((r) => r.method === "POST" && r.path === GENERATE) ?? [];
  const answers = app ? of(app, "POST", GENERATE).sort((a, b) => a.at - b.at) : [];
  const ok = answers.filter((r) => r.status === 200);
  // Each utterance with the response that carried it (the app speaks each 200 answer's content, trimmed, in order).
  let next = 0;
  const utterances = run.said.map((u) => {
    let j = next;
    while (j < ok.length && contentOf(ok[j]) !== u.text.trim()) j++;
    const res = j < ok.length ? ok[j] : null;
    if (res) next = j + 1;
    let context = null;
    try {
      context = JSON.parse(res.postData).context.map((c) => c.text).join("\n");
    } catch {
      // No response found for it: its context is unknown.
    }
    return { text: u.text, at: u.at, res, context };
  });
  const lines = utterances.filter((u) => u.text.trim() !== "");
  const words = lines.reduce((n, l) => n + wordsOf(l.text), 0);
  // The session: its planned length, or longer when its last event or line came later.
  const lastAt = Math.max(run.start + SESSION_MS, pushed.at(-1)?.pushAt ?? 0, lines.at(-1)?.at ?? 0);
  const minutes = (lastAt - run.start) / 60_000;

  // The earpiece's queue at 150 words a minute.
  let free = 0;
  let worstQueueMs = 0;
  for (const l of lines) {
    const start = Math.max(l.at, free);
    worstQueueMs = Math.max(worstQueueMs, start - l.at);
    free = start + wordsOf(l.text) * SECONDS_PER_WORD * 1000;
  }

  const seen = new Set();
  const twice = [];
  for (const l of lines) {
    const key = normalized(l.text);
    if (seen.has(key)) twice.push(l.text);
    seen.add(key);
  }

  const tippers = [...new Set(pushed.filter((p) => p.kind === "tip").map((p) => p.user))];
  const unthanked = tippers.filter((user) => {
    const first = pushed.find((p) => p.kind === "tip" && p.user === user).pushAt;
    return !lines.some((l) => l.at >= first && names(l.text, user));
  });

  const questions = pushed.filter((p) => p.kind === "question");
  const surfaced = questions.filter((q) => lines.some((l) => l.at >= q.pushAt && l.at <= q.pushAt + SURFACED_WITHIN_MS && names(l.text, q.user)));

  const strangers = [];
  for (const l of lines) {
    const candidates = (l.text.match(/[A-Za-z][A-Za-z0-9_']*/g) ?? []).filter((t) => STRANGERS.includes(t) || USERNAME_SHAPED.test(t));
    const context = (l.context ?? "").toLowerCase();
    for (const t of candidates) if (!context.includes(t.toLowerCase())) strangers.push({ name: t, line: l.text });
  }

  // Each event that asks for a suggestion: a spoken line before the next event (or within 30 s).
  const triggering = pushed.filter((p) => TRIGGERS.has(p.event.method));
  const answeredAloud = triggering.filter((p, i) => {
    const until = triggering[i + 1]?.pushAt ?? p.pushAt + SURFACED_WITHIN_MS;
    return lines.some((l) => l.at >= p.pushAt && l.at < until);
  });

  return {
    events: pushed.length,
    triggering: triggering.length,
    sent: sent.length,
    answered: answers.length,
    ok: ok.length,
    statuses: answers.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body?.slice(0, 160)}`),
    modelCalls: w?.sim.calls.length ?? 0,
    callsPerRequest: sent.length ? (w?.sim.calls.length ?? 0) / sent.length : 0,
    utterances: utterances.length,
    silent: utterances.length - lines.length,
    lines,
    unpaired: utterances.filter((u) => !u.res).length,
    words,
    minutes,
    wordsPerMinute: words / minutes,
    worstQueueS: worstQueueMs / 1000,
    nothing: lines.filter((l) => NOTHING_NOW.test(l.text)).map((l) => l.text),
    twice,
    tippers,
    unthanked,
    questions: questions.length,
    surfaced: surfaced.length,
    unsurfaced: questions.filter((q) => !surfaced.includes(q)).map((q) => `${q.user}: ${q.event.object.message.message}`),
    strangers,
    answeredAloud: answeredAloud.length,
    unansweredAloud: triggering.filter((p) => !answeredAloud.includes(p)).map((p) => `${p.kind} ${p.user}`),
  };
}

function printFigures(runs) {
  const figs = runs.map((r) => r.figures);
  const pct = (a, b) => (b ? `${Math.round((100 * a) / b)}%` : "-");
  const rows = [
    ["session (minutes)", (f) => f.minutes.toFixed(2)],
    ["room events pushed", (f) => f.events],
    ["events that ask for a suggestion", (f) => f.triggering],
    ["requests sent", (f) => f.sent],
    ["answered 200", (f) => f.ok],
    ["model calls", (f) => f.modelCalls],
    ["model calls per request", (f) => f.callsPerRequest.toFixed(2)],
    ["utterances (incl. empty)", (f) => f.utterances],
    ["lines spoken (non-empty)", (f) => f.lines.length],
    ["words spoken", (f) => f.words],
    ["words a minute", (f) => f.wordsPerMinute.toFixed(1)],
    ["worst queue at 150 wpm (s)", (f) => f.worstQueueS.toFixed(1)],
    ['"nothing now" lines spoken', (f) => f.nothing.length],
    ["lines said twice", (f) => f.twice.length],
    ["tippers thanked by name", (f) => `${f.tippers.length - f.unthanked.length}/${f.tippers.length}`],
    ["questions surfaced within 30 s", (f) => `${f.surfaced}/${f.questions} (${pct(f.surfaced, f.questions)})`],
    ["suggestion events answered aloud", (f) => `${f.answeredAloud}/${f.triggering}`],
    ["names spoken not in the context", (f) => f.strangers.length],
  ];
  const head = ["figure", ...runs.map((r) => `${r.spec.label} room`)];
  const table = [head, ...rows.map(([label, get]) => [label, ...figs.map((f) => String(get(f)))])];
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const out = [`session figures of ${SCRIPT} (SESSION_MINUTES=${SESSION_MINUTES}${Object.keys(PACE_VARS).length ? `, vars ${JSON.stringify(PACE_VARS)}` : ""})`];
  for (const row of table) out.push(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "));
  for (const r of runs) {
    const f = r.figures;
    const label = `${r.spec.label} room`;
    if (r.error) out.push(`${label}: the session broke off: ${r.error.stack ?? r.error}`);
    if (f.statuses.length) out.push(`${label}: not 200: ${f.statuses.slice(0, 5).join(" | ")}`);
    if (f.unpaired) out.push(`${label}: ${f.unpaired} utterances matched no response`);
    if (f.unthanked.length) out.push(`${label}: tippers not thanked: ${f.unthanked.join(", ")}`);
    if (f.unsurfaced.length) out.push(`${label}: questions not surfaced within 30 s: ${f.unsurfaced.join(" | ")}`);
    if (f.nothing.length) out.push(`${label}: "nothing now" lines: ${[...new Set(f.nothing)].join(" | ")}`);
    if (f.twice.length) out.push(`${label}: said twice: ${[...new Set(f.twice)].join(" | ")}`);
    if (f.strangers.length) out.push(`${label}: names not in the context: ${f.strangers.map((s) => `${s.name} ("${s.line}")`).join(" | ")}`);
    if (f.unansweredAloud.length) out.push(`${label}: suggestion events with no spoken line: ${f.unansweredAloud.join(", ")}`);
    const shown = process.env.SESSION_TRANSCRIPT ? f.lines : f.lines.slice(0, 12);
    out.push(`${label}: spoken lines${shown.length < f.lines.length ? ` (first ${shown.length} of ${f.lines.length}; SESSION_TRANSCRIPT=1 for all)` : ""}:`);
    for (const l of shown) out.push(`  +${((l.at - r.start) / 1000).toFixed(1).padStart(6)} s  ${l.text}`);
  }
  console.log(out.join("\n"));
}

describe("a session: what the broadcaster hears over time, in a busy and a quiet room", { timeout: SESSION_MS + 240_000 }, () => {
  let browser;
  let busy;
  let quiet;

  before(async () => {
    assert.ok(frontendFound(), `the coach frontend is not at ${FRONTEND}; put its static/ folder there or set COACH_FRONTEND_DIR`);
    // Two pages at once: neither may be throttled as a background tab.
    browser = await launchBrowser({
      args: ["--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"],
    });
    [busy, quiet] = await Promise.all([runRoom(browser, BUSY, busyPlan(SESSION_MS)), runRoom(browser, QUIET, quietPlan(SESSION_MS))]);
    for (const run of [busy, quiet]) run.figures = figuresOf(run);
    // The figures first, so a failing run still reports them.
    printFigures([busy, quiet]);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([busy, quiet].map((run) => run?.w?.dispose()));
  });

  it("the sessions ran to the end", () => {
    for (const run of [busy, quiet]) {
      assert.ifError(run.error);
      assert.equal(run.pushed.length, run.plan.length, `${run.spec.label} room: not every event was pushed`);
      assert.equal(run.app.events.sent, run.plan.length + 2, `${run.spec.label} room: not every event was delivered`);
      assert.ok(run.figures.sent > 0, `${run.spec.label} room: the app asked for no suggestion`);
    }
  });

  it("answers every suggestion request with 200", () => {
    for (const run of [busy, quiet]) {
      const f = run.figures;
      assert.equal(f.answered, f.sent, `${run.spec.label} room: ${f.sent - f.answered} requests got no response`);
      assert.deepEqual(f.statuses, [], `${run.spec.label} room`);
    }
  });

  describe("the busy room", () => {
    it(`speaks at most ${BUSY_MAX_WORDS_PER_MINUTE} words a minute`, () => {
      assert.ok(busy.figures.wordsPerMinute <= BUSY_MAX_WORDS_PER_MINUTE, `${busy.figures.wordsPerMinute.toFixed(1)} words a minute`);
    });
    it(`never queues a line more than ${BUSY_MAX_QUEUE_S} s behind the earpiece (150 words a minute)`, () => {
      assert.ok(busy.figures.worstQueueS <= BUSY_MAX_QUEUE_S, `worst queue ${busy.figures.worstQueueS.toFixed(1)} s`);
    });
    it('speaks no "nothing now" line', () => {
      assert.deepEqual(busy.figures.nothing, []);
    });
    it("says no line twice", () => {
      assert.deepEqual(busy.figures.twice, []);
    });
    it("thanks every named tipper by name", () => {
      assert.deepEqual(busy.figures.unthanked, [], `thanked ${busy.figures.tippers.length - busy.figures.unthanked.length} of ${busy.figures.tippers.length}`);
    });
    it(`makes at most ${BUSY_MAX_MODEL_CALLS_PER_REQUEST} model calls per request`, () => {
      const f = busy.figures;
      assert.ok(f.callsPerRequest <= BUSY_MAX_MODEL_CALLS_PER_REQUEST, `${f.modelCalls} model calls for ${f.sent} requests`);
    });
  });

  describe("the quiet room", () => {
    it("answers every event that asks for a suggestion with a spoken line", () => {
      const f = quiet.figures;
      assert.ok(f.triggering > 0, "no event asked for a suggestion");
      assert.deepEqual(f.unansweredAloud, [], `${f.answeredAloud} of ${f.triggering} answered aloud`);
    });
  });

  it("never speaks a name the request's context does not carry", () => {
    for (const run of [busy, quiet]) {
      assert.deepEqual(
        run.figures.strangers.map((s) => `${s.name}: ${s.line}`),
        [],
        `${run.spec.label} room`,
      );
    }
  });
});

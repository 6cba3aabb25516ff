// Rooms for the real model (tests/real-model/server.mjs), in the coach
// frontend's own words, and a judge of what reached the earpiece that owes
// nothing to the Worker's own checks: the integration test
// (real-model.test.mjs) and the evaluation (scripts/eval) share them.
//
// A room is what the coach frontend (shared/coach-frontend/static/src/app.js)
// sends: its last 10 activity lines as {type, text, timestamp}, worded as it
// words them (`name: message` for chat, `name tipped N tokens with message:
// ...` for a tip, `name entered the room` and its other event sentences, its
// own status lines too), with broadcaster, preferences, aimodel, sessionKey
// and the reason it asked (tip, chatMessage, userEnter or inactivity). Every
// third room is streamed (`stream: true`). Rooms are drawn from a seeded
// generator, so a run is repeatable.
//
// `unfitKinds` names what makes a spoken answer unfit, by its own rules:
// the prompt played back or paraphrased (against every line the model was
// sent), markup, chat-template tokens, speaker labels, apologies and
// refusals, fragments, narration about the room, talk about the task, raw
// usernames, contact details, a viewer quoted at length, and words a stream
// spoke before withdrawing them. For a model's line it also holds the rules
// the hand-labelled answers were read by (tests/fixtures/labelled-answers.md):
// the line spoken is the model's answer whole, with only its wrapping taken
// off (`unwrapped`), not cut off by the token limit, at most 15 words and two
// sentences. `labelOf` finds a person's label for an answer the labelled set
// holds, which then decides whether it was fit.

import { readFileSync } from "node:fs";

/** A small seeded generator (mulberry32): the same seed, the same rooms. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const BROADCASTERS = ["Zoe", "Luna", "MiaRose", "Jade", "lunastar", "sky_dancer", "Bella", "JT"];
const VIEWERS = [
  "Max", "xXDarkAngelXx", "BigSpender2000", "mr_south", "john_doe", "CoolGuy_88", "dr.feelgood", "Bob8812",
  "KimChi", "tommy", "User456", "guest_77", "SirTipsALot", "ana.banana", "Rex", "Nico_92", "Jenna", "wolfie",
  "PapaBear", "lily_rose",
];
const GREETINGS = ["hi {b}!", "hello everyone", "hey hey", "good evening chat", "hi all, first time here", "hiii {b}"];
const QUESTIONS = [
  "{b} where are you from?",
  "how was your day {b}?",
  "what music is this?",
  "{b} do you have a pet?",
  "are you doing a show later?",
  "what are you drinking tonight?",
  "can you say hi to me?",
  "{b} what's your favorite food?",
  "how long are you streaming today?",
];
const CHATTER = [
  "you look amazing tonight",
  "love your hair",
  "this stream is so cozy",
  "lol",
  "haha that was funny",
  "brb getting food",
  "my cat just knocked over my drink",
  "it's raining so hard here",
  "long day at work, glad to be here",
  "the music is great",
  "hola guapa",
];
const TROLLS = [
  "buy cheap followers at scam dot com",
  "check my profile for free stuff",
  "you're boring",
  "SPAM SPAM SPAM",
  "follow me on insta @fakeacct",
];
const TIP_NOTES = ["for the song", "you're the best", "happy birthday!", "do a spin", "keep smiling", "PM me"];
const SUBJECTS = ["Chill night, music and chat", "Goal: 500 tokens for a dance", "Happy Friday!"];
const PREFERENCES = [
  "Engage more with tips.",
  "Be playful and warm. Never mention my ex.",
  "Keep it classy. No politics.",
  "I am shy, help me talk to chat.",
  "Speak briefly. Don't talk about money.",
  "",
  "Thank every tipper by name.",
  "Avoid talking about my location.",
];

/** `n` rooms from `seed`: every third is streamed. `now` is when the run starts (ms). */
export function makeRooms(n, seed = 19, model = "openai:smollm2-135m") {
  const rooms = [];
  for (let i = 0; i < n; i++) {
    const rnd = random(seed * 1000 + i);
    const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
    const b = BROADCASTERS[i % BROADCASTERS.length];
    const cast = [...VIEWERS].sort(() => rnd() - 0.5).slice(0, 3 + Math.floor(rnd() * 4));
    const lines = [];
    if (i % 8 === 0) {
      lines.push({ type: "event", text: `Connecting to: https://eventsapi.chaturbate.com/events/${b.toLowerCase()}/a1b2c3d4e5/` });
      lines.push({ type: "event", text: "Broadcast started" });
    }
    const events = 2 + Math.floor(rnd() * 7);
    for (let k = 0; k < events; k++) {
      const who = pick(cast);
      const r = rnd();
      if (r < 0.42) {
        const pool = r < 0.12 ? GREETINGS : r < 0.24 ? QUESTIONS : r < 0.38 ? CHATTER : TROLLS;
        lines.push({ type: "chat", text: `${who}: ${pick(pool).replaceAll("{b}", b)}` });
      } else if (r < 0.62) {
        const tokens = pick([1, 5, 10, 25, 50, 100, 200, 500]);
        const anon = rnd() < 0.1;
        const note = rnd() < 0.4 ? ` with message: ${pick(TIP_NOTES)}` : "";
        lines.push({ type: "tip", text: `${anon ? "Anonymous" : who} tipped ${tokens} tokens${note}` });
      } else if (r < 0.8) {
        lines.push({ type: "event", text: `${who} entered the room` });
      } else if (r < 0.86) {
        lines.push({ type: "event", text: `${who} left the room` });
      } else if (r < 0.91) {
        lines.push({ type: "event", text: `${who} has followed` });
      } else if (r < 0.94) {
        lines.push({ type: "event", text: `${who} joined the fan club` });
      } else if (r < 0.97) {
        lines.push({ type: "event", text: `Room Subject changed to ${pick(SUBJECTS)}` });
      } else {
        lines.push({ type: "chat", text: `You: ${pick(["thank you all!", "welcome in!", "brb one sec"])}` });
      }
    }
    // What made the frontend ask: the last event, as its processEvent decides.
    const trigger = i % 4;
    const who = pick(cast);
    let reason;
    if (trigger === 0) {
      lines.push({ type: "tip", text: `${who} tipped ${pick([10, 25, 50, 100])} tokens${rnd() < 0.5 ? ` with message: ${pick(TIP_NOTES)}` : ""}` });
      reason = "tip";
    } else if (trigger === 1) {
      lines.push({ type: "chat", text: `${who}: ${pick(rnd() < 0.5 ? QUESTIONS : CHATTER).replaceAll("{b}", b)}` });
      reason = "chatMessage";
    } else if (trigger === 2) {
      lines.push({ type: "event", text: `${who} entered the room` });
      reason = "userEnter";
    } else {
      reason = "inactivity";
    }
    const context = lines.slice(-10);
    // Seconds before the request, oldest first; a quiet room's last event is minutes old.
    let ago = trigger === 3 ? 120 + Math.floor(rnd() * 180) : Math.floor(rnd() * 4);
    const agesS = [];
    for (let k = context.length - 1; k >= 0; k--) {
      agesS[k] = ago;
      ago += 2 + Math.floor(rnd() * 40);
    }
    rooms.push({
      index: i,
      stream: i % 3 === 2,
      agesS,
      body: { context, broadcaster: b, preferences: pick(PREFERENCES), aimodel: model, reason },
    });
  }
  return rooms;
}

/** The request body of `room` sent at `nowMs`: timestamps as the frontend stamps them (ISO, ms). */
export function bodyAt(room, nowMs, sessionKey) {
  const context = room.body.context.map((e, k) => ({
    type: e.type,
    text: e.text,
    // Half a second inside the second, so the age the Worker computes is the room's.
    timestamp: new Date(nowMs - room.agesS[k] * 1000 - 500).toISOString(),
  }));
  return { ...room.body, context, sessionKey, ...(room.stream ? { stream: true } : {}) };
}

// ---- The judge of what was spoken: its own rules, not the Worker's. ----

const STOP = new Set(
  ("a an the and or but to of in on at for with from by is are was be it this that i you we me my your our so " +
    "do does can have has all just really very here there what how who they them he she his her its if as not no " +
    "up out about now right will would should could let lets get got").split(" "),
);

/** Lowercase words. */
function wordsOf(s) {
  return (s.toLowerCase().match(/[a-z0-9']+/g) ?? []).map((w) => w.replace(/^'+|'+$/g, "")).filter(Boolean);
}

/** Words that carry meaning. */
function contentWords(s) {
  return wordsOf(s).filter((w) => !STOP.has(w) && w.length > 1);
}

// Verbs a spoken suggestion is built on (and sentence openers that stand for one).
const VERBS = new Set(
  ("say says said tell ask asks asked thank thanks welcome welcomes give gives show shows smile smiles wave waves " +
    "keep try share play plays sing dance spin blow laugh look looks love loves enjoy enjoying make makes take " +
    "takes go going come coming be been being am is are was were do does did have has had can could will would " +
    "should shall may might must let hope need needs want wants like likes feel feels know knows think thinks " +
    "see sees hear hears call check start stop stay sit stand turn put read talk talking answer reply mention " +
    "greet greeting celebrate appreciate appreciated miss missed join joined remember tip tipped shout cheer " +
    "hi hello hey hiya howdy glad happy got get gets find found bring brought wish wishes").split(" "),
);

/** First words of a sentence spoken to someone: an instruction, a greeting, a question. */
const LEADS = new Set(
  ("thank thanks welcome say ask tell give answer greet shout let's let try show wave smile blow check keep " +
    "invite compliment play sing dance spin hi hello hey hiya wow congrats congratulations what how who where " +
    "why when do are is can have would will").split(" "),
);

/** A username as a person might say it, roughly: its words (to tell a line about a viewer). */
function speakable(name) {
  return name.replace(/^xX(.*)Xx$/, "$1").split(/[_.\d]+|(?<=[a-z])(?=[A-Z])/).filter(Boolean).join(" ");
}

/** Chat-template tokens and their remains once cleaning has stripped the brackets. */
const TEMPLATE_TOKENS = [
  /<\|?im_(start|end)\|?>/i, /\bim_(start|end)\b/i, /<<\/?SYS>>/i, /\[\/?INST\]/i, /\b\/?INST\b/, /<\/?s>/i,
  /<\|?(eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|endoftext)\|?>/i,
  /\b(eot_id|start_header_id|end_header_id|begin_of_text|endoftext)\b/i, /<\/?(start|end)_of_turn>/i,
  /\b(start|end)_of_turn\b/i, /^\s*(assistant|user|system|model)\s*$/i,
];

/** The lines of the prompt the model was sent, split as the messages are. */
function promptLines(messages) {
  return (messages ?? []).flatMap((m) => String(m.content).split("\n")).map((l) => l.trim()).filter(Boolean);
}

/** A line of the prompt that carries a room event (a viewer's words or deeds, not ours). */
function isEventLine(line, room) {
  const viewers = usernames(room).filter((n) => n !== room.body.broadcaster);
  return (
    room.body.context.some((e) => {
      const message = e.text.includes(": ") ? e.text.slice(e.text.indexOf(": ") + 2) : e.text;
      return message.length > 3 && line.includes(message.slice(0, 40));
    }) ||
    // The plain prompt names viewers as a person says them ("Ana Banana" for ana.banana): any case.
    viewers.some((n) => line.toLowerCase().includes(n.toLowerCase()) || line.toLowerCase().includes(speakable(n).toLowerCase()))
  );
}

/** Usernames of the room, and the broadcaster's. */
function usernames(room) {
  const names = new Set([room.body.broadcaster]);
  for (const e of room.body.context) {
    const m = e.text.match(/^([^\s:]+)(?::| tipped | entered | left | has | joined | purchased | sent )/);
    if (m && !["You", "Connecting", "Room", "Broadcast", "Anonymous"].includes(m[1])) names.add(m[1]);
  }
  return [...names];
}

/** A username no one would say as written: digits, underscores, dots, xX...Xx, or capitals inside. */
function unspeakable(name) {
  return /[0-9_.]/.test(name) || /^xX.*Xx$/.test(name) || /[a-z][A-Z]/.test(name);
}

/**
 * A model's answer with only its wrapping taken off, as the labels read it:
 * a closed `<think>` block, the JSON envelope (clean or in a code fence), one
 * leading `Say:`/`Do:` label, surrounding quotes, whitespace. `null` when what
 * is left is not one line of text: a preamble, more lines, prose around JSON,
 * JSON cut off.
 */
export function unwrapped(raw) {
  let text = String(raw ?? "");
  const end = text.lastIndexOf("</think>");
  if (end >= 0) text = text.slice(end + "</think>".length);
  text = text.trim();
  const fence = text.match(/^```[^\n]*\n([\s\S]*?)\n?```$/);
  if (fence) text = fence[1].trim();
  if (text.startsWith("{")) {
    try {
      const v = JSON.parse(text);
      const inner = v.response && typeof v.response === "object" ? v.response : v;
      text = typeof inner.content === "string" ? inner.content.trim() : "";
    } catch {
      return null;
    }
  } else if (/[{}]/.test(text) && /"(action|content)"/.test(text)) {
    return null;
  }
  const unquote = (t) => {
    const m = t.match(/^(["\u201c'])([\s\S]*)(["\u201d'])$/);
    return m && !m[2].includes(m[1]) && !m[2].includes(m[3]) ? m[2].trim() : t;
  };
  text = unquote(text);
  text = text.replace(/^(say|do):\s*/i, "");
  text = unquote(text);
  if (text.split("\n").filter((l) => l.trim()).length !== 1) return null;
  return text.replace(/\s+/g, " ");
}

/** The words of `text` that are not names of the room: a username said by its spoken name changes only those. */
function unnamedWords(text, room) {
  const names = new Set(usernames(room).flatMap((n) => [...wordsOf(n), ...wordsOf(speakable(n))]));
  return wordsOf(text).filter((w) => !names.has(w));
}

/** Sentences of `text`: each end (`.`, `!`, `?`) followed by more words closes one; a title's dot ends none. */
function sentences(text) {
  const tokens = text.split(/\s+/).filter(Boolean);
  const closed = tokens
    .slice(0, -1)
    .filter((t) => /[.!?]["')]?$/.test(t) && !/^(mr|mrs|ms|dr|st)\.$/i.test(t)).length;
  return closed + (tokens.length ? 1 : 0);
}

/**
 * What makes a model's spoken line unfit by the labels' rules, beside
 * `unfitKinds`: `raw` is the answer as the model wrote it, `finish` why it stopped.
 */
export function unwholeKinds(spoken, raw, finish, room) {
  const kinds = [];
  const text = String(spoken ?? "").trim();
  if (!text) return kinds;
  const whole = unwrapped(raw);
  if (finish === "length") kinds.push("cut off by the token limit");
  if (whole === null || unnamedWords(whole, room).join(" ") !== unnamedWords(text, room).join(" ")) {
    kinds.push("not the model's line whole");
  }
  if (text.split(/\s+/).length > 15 || sentences(text) > 2) kinds.push("over 15 words or two sentences");
  return kinds;
}

/** The labelled set (tests/fixtures/labelled-answers.json), as `labelOf` reads it. */
export function loadLabels(path = new URL("../fixtures/labelled-answers.json", import.meta.url)) {
  const doc = JSON.parse(readFileSync(path, "utf8"));
  const byAnswer = new Map();
  for (const a of doc.answers) byAnswer.set(labelKey(a.raw, a.request), a);
  return byAnswer;
}

/** What identifies an answer in the labelled set: its raw text and its room as sent. */
function labelKey(raw, body) {
  const { broadcaster, preferences = "", reason, context } = body;
  return JSON.stringify([raw, broadcaster, preferences, reason, context.map((e) => [e.type, e.text])]);
}

/** A person's label of `raw`, answered in `room`, if the labelled set holds it. */
export function labelOf(labels, raw, room) {
  return labels?.get(labelKey(raw, room.body)) ?? null;
}

/**
 * What makes `spoken` (the words that reached the earpiece) unfit: a list of
 * kinds, empty when it is fit. `messages` is the prompt the model was sent
 * (null for the rules coach); `withdrawn` when a stream took its words back.
 */
export function unfitKinds(spoken, room, messages = null, { withdrawn = false } = {}) {
  const kinds = new Set();
  const text = String(spoken ?? "").trim();
  const lower = text.toLowerCase();
  const words = wordsOf(text);
  if (withdrawn && text) kinds.add("withdrawn after speaking");
  if (!text) return [...kinds];
  // Markup of the prompt, and the model's own template tokens.
  if (/<<<|>>>|ROOM_EVENTS|\[(chat|tip|event|joined|left|followed)\b|\d+s ago\]|\(say "|[{}`]|"action"|"content"/i.test(text)) {
    kinds.add("prompt markup");
  }
  if (TEMPLATE_TOKENS.some((re) => re.test(text))) kinds.add("template token");
  // A person says a sentence, never a lone token.
  if (words.length < 2) kinds.add("fragment");
  // Speaker labels: `Zoe:`, `luna_star:`, `Assistant:` at the start or anywhere after a sentence.
  if (/(^|[.!?]\s+)["']?[\w.@-]{1,30}:\s/.test(text) || /\b(assistant|user|system|coach|viewer|broadcaster)\s*:/i.test(text)) {
    kinds.add("speaker label");
  }
  // Apologies and refusals, in their common forms.
  if (
    /\b(sorry|apolog\w*|regret to|i (can ?not|can't|cannot|won't|will not|am unable|'m unable|am not able|'m not able|do not have|don't have|have no)|unable to|not able to|as an ai|language model|ai assistant|i'm an ai|i am an ai|i'm just an? |no response)\b/i.test(
      text,
    )
  ) {
    kinds.add("apology or refusal");
  }
  // Fragments: an unclosed quote or bracket, a sentence that stops mid-way, no verb.
  const quotes = (text.match(/"/g) ?? []).length;
  if (quotes % 2 === 1 || (text.match(/\(/g) ?? []).length !== (text.match(/\)/g) ?? []).length) kinds.add("fragment");
  const last = words[words.length - 1] ?? "";
  const ended = /[.!?]["')]?$/.test(text);
  if (/[,;:\-–]$/.test(text) || (!ended && ["a", "an", "the", "and", "or", "but", "to", "of", "for", "with", "my", "your", "is", "are", "at", "that", "so"].includes(last))) {
    kinds.add("fragment");
  }
  const hasVerb = words.some((w) => VERBS.has(w) || /(ing|ed)$/.test(w) || /'(s|re|ll|m|ve|d)$/.test(w) || w.endsWith("n't"));
  // No verb: a line of bare names (`Big Tipper`, `Mister South.`) says nothing to do.
  const bareNames = text.split(/\s+/).every((w) => /^[^a-z0-9]*[A-Z]/.test(w));
  if (words.length >= 2 && !hasVerb && bareNames) kinds.add("fragment");
  // Narration about the room (role-play, or the room's events told back), unless
  // it leads to words for the broadcaster: "Max tipped 50 tokens, thank him!" is coaching.
  const names = usernames(room);
  const nameAlt = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|");
  const actor = `(the (broadcaster|streamer|viewers?|audience|user|crowd)|everyone|someone|${nameAlt}|she|he|they)`;
  const scene = "(the (room|chat|stream|audience|viewers|crowd|music)|everyone)";
  const narrates =
    new RegExp(`^${actor} (smiles|smiled|laughs|laughed|nods|nodded|waves|waved|looks at|looked|walks|walked|sits|sat|giggles|grins|grinned|blushes|says|said|asks|asked|replies|replied|responds|responded|tipped|entered|left|joined|followed|sends|sent|is (watching|typing|smiling|laughing|waving|sitting|looking|wondering|asking)|was|were|has (just )?(joined|followed|entered|tipped|left|sent|asked|said))\\b`, "i").test(text) ||
    new RegExp(`^${scene} (is|are|was|were|has|have|seems|seem|feels|goes|went)\\b`, "i").test(text) ||
    /\b(tipped \d+ tokens|entered the room|left the room|has followed|joined the fan club|sent private message)\b/i.test(text);
  const sentences = text.split(/(?<=[.!?,;:])\s+/);
  const coaches = sentences.some((s) => LEADS.has(wordsOf(s)[0] ?? "")) || /\b(you|your|you're|yourself)\b/i.test(text);
  if (narrates && !coaches) kinds.add("narration");
  // Talk about the task or the prompt rather than words to say.
  if (
    /\b(the user|user's|the viewer's message|the prompt|the message is|room events?|suggestion|earpiece|json|instructions?|the coach|as a coach|live-stream coach|preferences|broadcaster|say or do|something new,? or wait|respond with|reply with|the answer is|responses?)\b/i.test(
      text,
    ) ||
    new RegExp(`\\b(${nameAlt}) (should|could|might|can|must) (say|do|respond|reply|answer|wait|thank|ask|tell)\\b`, "i").test(text)
  ) {
    kinds.add("talk about the task");
  }
  // The prompt's own lines, or paraphrases of them (events aside: those are the viewers' words):
  // five words in a row of one, or most of what the answer says found in one.
  const said = [...new Set(contentWords(text))];
  const run5 = (line) => {
    const theirs = ` ${wordsOf(line).join(" ")} `;
    return words.some((_, k) => k + 5 <= words.length && theirs.includes(` ${words.slice(k, k + 5).join(" ")} `));
  };
  for (const line of promptLines(messages)) {
    if (isEventLine(line, room)) continue;
    if (run5(line)) {
      kinds.add("prompt echo");
      break;
    }
    const theirs = new Set(contentWords(line));
    const shared = said.filter((w) => theirs.has(w));
    if ((shared.length >= 4 && shared.length >= 0.6 * said.length) || (shared.length >= 3 && shared.length >= 0.75 * said.length)) {
      kinds.add("prompt echo");
      break;
    }
  }
  // A viewer quoted at length: five words in a row of one message.
  for (const e of room.body.context) {
    const theirs = wordsOf(e.text.includes(": ") ? e.text.slice(e.text.indexOf(": ") + 2) : e.text);
    for (let k = 0; k + 5 <= theirs.length; k++) {
      const run = theirs.slice(k, k + 5).join(" ");
      if (` ${words.join(" ")} `.includes(` ${run} `)) kinds.add("quotes a viewer");
    }
  }
  // Raw usernames, of the room's people or any username-shaped word.
  for (const name of names) {
    if (unspeakable(name) && lower.includes(name.toLowerCase())) kinds.add("raw username");
  }
  if (/\b[a-z]{2,}\d{2,}\b|\b\w+_\w+\b|@\w/i.test(text)) kinds.add("raw username");
  // Contact details.
  if (/https?:|www\.|\b\w+\.(com|net|org|io|tv|me|co)\b|\bdot (com|net|org)\b|\b\S+@\S+\.\w+|\d{3}[-. )]\d{3}[-. ]\d{4}/i.test(text)) {
    kinds.add("contact details");
  }
  // Markdown, emoji, hashtags: a voice reads them wrong.
  if (/[*#_~|]|\p{Extended_Pictographic}/u.test(text.replace(/\b\w+_\w+\b/g, ""))) kinds.add("markup for the eye");
  return [...kinds];
}

// ---- A run: the rooms against a Worker in front of the real model. ----

/** The Worker's vars for `openai:` at `baseUrl` serving `model`, session keys on, no fallback model. */
export function workerVars(baseUrl, model) {
  return {
    OPENAI_COMPAT_BASE_URL: baseUrl,
    OPENAI_COMPAT_MODELS: model,
    DEFAULT_MODEL: `openai:${model}`,
    FALLBACK_MODELS: undefined,
    // A 135M model on a busy 2-core machine: a call takes seconds, not hundreds of ms.
    MODEL_TIMEOUT_MS: "12000",
    REQUEST_DEADLINE_MS: "14000",
    SESSION_KEYS: "open",
    SESSION_SECRET: "real-model-session-secret-0123456789",
  };
}

/** Reads an event stream as it arrives: the events, and when the first `delta` came. */
async function readStream(resp, started) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let firstDeltaMs = null;
  const events = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = block.match(/^event: (.*)$/m)?.[1];
      const data = block.match(/^data: (.*)$/m)?.[1];
      if (!event || data === undefined) continue;
      if (event === "delta" && firstDeltaMs === null) firstDeltaMs = Date.now() - started;
      events.push({ event, data: JSON.parse(data) });
    }
  }
  return { events, firstDeltaMs };
}

/** The Worker's log lines (request and stream_end) of `id`. */
function logLines(worker, id) {
  return worker.logs
    .join("")
    .split("\n")
    .filter((l) => l.includes(`"request_id":"${id}"`))
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))));
}

/**
 * Sends each room to `worker` (from startWorker) in front of `server` (from
 * startModelServer), one after another, as the coach frontend would: a
 * session key per broadcaster, then its body. Returns one result per room,
 * judged (see `judge`) against `labels` (from `loadLabels`) when given.
 */
export async function runRooms(worker, server, rooms, { onResult, labels = null } = {}) {
  const keys = new Map();
  const results = [];
  const headers = { "Content-Type": "application/json", "CF-Connecting-IP": "203.0.113.9" };
  for (const room of rooms) {
    const b = room.body.broadcaster;
    if (!keys.has(b)) {
      const r = await worker.fetch("/api/get-session-key", {
        method: "POST",
        headers,
        body: JSON.stringify({ username: "user", broadcaster: b }),
      });
      const k = await r.json();
      if (!k.sessionKey) throw new Error(`no session key for ${b}: ${JSON.stringify(k)}`);
      keys.set(b, k.sessionKey);
    }
    const id = `real-room-${room.index}-${Date.now()}`;
    const calledBefore = server.calls.length;
    const started = Date.now();
    const resp = await worker.fetch("/api/generate-prompt", {
      method: "POST",
      headers: { ...headers, "X-Request-Id": id },
      body: JSON.stringify(bodyAt(room, started, keys.get(b))),
    });
    const result = { room, status: resp.status, stream: room.stream, firstDeltaMs: null, withdrawn: false };
    if (room.stream && resp.headers.get("content-type")?.startsWith("text/event-stream")) {
      const { events, firstDeltaMs } = await readStream(resp, started);
      result.firstDeltaMs = firstDeltaMs;
      result.spoken = events.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
      const done = events.find((e) => e.event === "done")?.data;
      const error = events.find((e) => e.event === "error")?.data;
      result.answer = done ?? null;
      result.error = error?.code ?? null;
      result.withdrawn = Boolean(error) && result.spoken.length > 0;
    } else {
      const body = await resp.json();
      result.answer = resp.status === 200 ? body : null;
      result.error = resp.status === 200 ? null : body.code;
      result.spoken = resp.status === 200 ? body.content : "";
    }
    result.ms = Date.now() - started;
    result.model = result.answer?.model ?? null;
    result.action = result.answer?.action ?? null;
    result.calls = server.calls.slice(calledBefore);
    // Give the stream's last log line a moment to be written.
    await new Promise((r) => setTimeout(r, 20));
    const lines = logLines(worker, id);
    result.refusals = [
      ...lines.flatMap((l) => l.model_failures ?? []),
      ...lines.map((l) => l.failure).filter(Boolean),
    ].map((f) => f.kind);
    judge(result, labels);
    results.push(result);
    onResult?.(result);
  }
  return results;
}

/** Whether `result` is the model's own line (not the rules coach's, not a wait). */
const ownLine = (r) => r.model && r.model !== "rules" && r.model !== "none" && r.action !== "wait";

/**
 * Judges what `result` spoke: its unfit kinds by the test's rules, and for the
 * model's own line (`result.accepted`, the call it came from) the labels'
 * rules and a person's label when the labelled set holds it. A person's label
 * decides whether the line was fit; without one, the rules do.
 */
export function judge(result, labels) {
  const { room } = result;
  result.accepted ??= ownLine(result) ? result.calls.at(-1) ?? null : null;
  const call = result.accepted;
  result.kinds = unfitKinds(result.spoken, room, call?.messages ?? result.calls.at(-1)?.messages ?? null, {
    withdrawn: result.withdrawn,
  });
  result.label = null;
  // A line of the model whose answer the record lost (a call that failed on the server) cannot be shown fit.
  if (ownLine(result) && !call) result.kinds.push("no raw answer on record");
  if (call) {
    result.raw = call.text;
    result.finish = call.finish;
    result.kinds.push(...unwholeKinds(result.spoken, call.text, call.finish, room));
    const labelled = labelOf(labels, call.text, room);
    if (labelled) result.label = { label: labelled.label, reasons: labelled.reasons ?? [], id: labelled.id };
  }
  result.fit = result.label ? result.label.label === "fit" : result.kinds.length === 0;
  return result;
}

function percentile(xs, p) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const countWords = (s) => (s.match(/\S+/g) ?? []).length;

/** The figures of a run (docs/evaluation.md explains each). */
export function summarize(results) {
  const n = results.length;
  const byModel = results.filter((r) => r.model && r.model !== "rules");
  const own = byModel.filter((r) => r.action !== "wait");
  const spoken = results.filter((r) => r.spoken);
  const unfit = results.filter((r) => r.spoken && !r.fit);
  const kinds = {};
  for (const r of unfit) {
    const named = r.label ? r.label.reasons.map((k) => `${k} (read)`) : r.kinds;
    for (const k of named) kinds[k] = (kinds[k] ?? 0) + 1;
  }
  const ownLines = results.filter(ownLine);
  const refusals = {};
  for (const r of results) for (const k of r.refusals) refusals[k] = (refusals[k] ?? 0) + 1;
  const calls = results.flatMap((r) => r.calls);
  const streamed = results.filter((r) => r.stream);
  const firstWords = streamed.map((r) => r.firstDeltaMs).filter((x) => x !== null);
  const modelFirstWords = streamed.filter((r) => r.model && r.model !== "rules").map((r) => r.firstDeltaMs).filter((x) => x !== null);
  return {
    rooms: n,
    streamed: streamed.length,
    answered200: results.filter((r) => r.status === 200 && !r.error).length,
    modelOwn: own.length,
    // The model's own lines fit to speak: by a person's label where the labelled set holds
    // the answer, else by the labels' rules; `ownRead` of them were read by a person.
    modelOwnFit: ownLines.filter((r) => r.fit).length,
    ownRead: ownLines.filter((r) => r.label).length,
    ownUnread: ownLines.filter((r) => !r.label).map((r) => ({ room: r.room.index, raw: r.raw, spoken: r.spoken })),
    modelWait: byModel.length - own.length,
    rules: results.filter((r) => r.model === "rules").length,
    unanswered: results.filter((r) => !r.model).length,
    unfitSpoken: unfit.length,
    unfitByKind: kinds,
    unfitExamples: unfit.map((r) => ({ room: r.room.index, model: r.model, spoken: r.spoken, kinds: r.kinds, label: r.label })),
    wordsPerAnswer: mean(spoken.map((r) => countWords(r.spoken))),
    wordsPerModelAnswer: mean(own.map((r) => countWords(r.spoken))),
    distinct: new Set(spoken.map((r) => r.spoken)).size,
    distinctModel: new Set(own.map((r) => r.spoken)).size,
    modelCalls: calls.length,
    modelMsP50: percentile(calls.map((c) => c.ms), 50),
    modelMsP90: percentile(calls.map((c) => c.ms), 90),
    promptTokensMean: mean(calls.map((c) => c.promptTokens)),
    firstWordP50: percentile(firstWords, 50),
    firstWordP90: percentile(firstWords, 90),
    modelFirstWordP50: percentile(modelFirstWords, 50),
    modelFirstWords: modelFirstWords.length,
    requestMsP50: percentile(results.map((r) => r.ms), 50),
    refusals,
  };
}

const pct = (a, n) => `${a} of ${n} (${n ? ((100 * a) / n).toFixed(0) : 0}%)`;
const ms = (x) => (x === null || x === undefined ? "n/a" : `${(x / 1000).toFixed(2)} s`);

/** The summary as a Markdown table. */
export function table(s) {
  const rows = [
    ["rooms (streamed)", `${s.rooms} (${s.streamed})`],
    ["answered 200", pct(s.answered200, s.rooms)],
    ["the model's own say/do", pct(s.modelOwn, s.rooms)],
    ["**the model's own and fit** (the labels' rules)", `**${pct(s.modelOwnFit, s.rooms)}**`],
    ["&nbsp;&nbsp;of the model's own, read by a person (the labelled set)", `${s.ownRead} of ${s.modelOwn}`],
    ["the model's wait", pct(s.modelWait, s.rooms)],
    ["the rules coach", pct(s.rules, s.rooms)],
    ["unfit answers spoken", `${s.unfitSpoken}`],
    ...Object.entries(s.unfitByKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [`&nbsp;&nbsp;${k}`, `${v}`]),
    ["words per answer (all / the model's)", `${s.wordsPerAnswer?.toFixed(1) ?? "n/a"} / ${s.wordsPerModelAnswer?.toFixed(1) ?? "n/a"}`],
    ["distinct answers (all / the model's)", `${s.distinct} of ${s.rooms} / ${s.distinctModel} of ${s.modelOwn}`],
    ["model calls; time per call p50 / p90", `${s.modelCalls}; ${ms(s.modelMsP50)} / ${ms(s.modelMsP90)}`],
    ["prompt tokens per call (mean)", `${s.promptTokensMean?.toFixed(0) ?? "n/a"}`],
    ["first streamed word p50 / p90 (all streams)", `${ms(s.firstWordP50)} / ${ms(s.firstWordP90)}`],
    ["first streamed word p50 (the model's, n)", `${ms(s.modelFirstWordP50)} (${s.modelFirstWords})`],
    ["request time p50", ms(s.requestMsP50)],
  ];
  const refused = Object.entries(s.refusals).sort((a, b) => b[1] - a[1]);
  const out = ["| figure | value |", "| --- | --- |", ...rows.map(([a, b]) => `| ${a} | ${b} |`)];
  if (refused.length) {
    out.push("", "| the Worker refused the model's answer as | calls |", "| --- | --- |", ...refused.map(([k, v]) => `| ${k} | ${v} |`));
  }
  return out.join("\n");
}

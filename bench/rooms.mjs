// Request bodies for the benchmarks, in the coach frontend's own words
// (shared/coach-frontend/static/src/app.js: `{type, text, timestamp}` events
// worded as it words them, `broadcaster`, `preferences`, `reason`), from a
// seeded generator: `node bench/rooms.mjs` writes bench/rooms/room-20.json (a
// typical request: the frontend sends its last 10 to 20 lines) and
// bench/rooms/room-500.json (a whole buffer, about 54 KB, inside the 64 KiB
// body limit). The native benchmark (benches/core.rs) and tests/bench.mjs
// (BENCH_EVENTS) read those files, so both measure the same bodies. The last
// tip is User456's 50 tokens, so the benchmark's simulated answer ("Thanks
// User456 for the 50 tokens, ...") names someone in the room.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { random } from "../tests/integration/real-rooms.mjs";

const VIEWERS = [
  "Max", "xXDarkAngelXx", "BigSpender2000", "mr_south", "john_doe", "CoolGuy_88", "dr.feelgood", "Bob8812",
  "KimChi", "tommy", "guest_77", "SirTipsALot", "ana.banana", "Rex", "Nico_92", "Jenna", "wolfie", "PapaBear",
  "lily_rose", "NightOwl_TX", "QueenBee1999", "sunny-side-up", "Small_Fry", "RocketRaccoon_2024",
];
const CHAT = [
  "hi Luna!", "hello everyone", "good evening chat", "Luna where are you from?", "how was your day Luna?",
  "what music is this?", "do you have a pet?", "are you doing a show later?", "you look amazing tonight",
  "love your hair", "this stream is so cozy", "lol", "haha that was funny", "brb getting food",
  "my cat just knocked over my drink", "it's raining so hard here", "long day at work, glad to be here",
  "the music is great", "buy cheap followers at scam dot com", "check my profile for free stuff",
  "first time here, this is such a nice vibe, how long have you been streaming?",
  "what are you drinking tonight? I've got a cup of tea and my dog on my lap",
  "Luna can you play that song from yesterday again please, the one with the piano",
  "just got home from the late shift, so glad you're live tonight, made my whole week",
  "haha my roommate thinks I'm weird for watching but this is the best stream on the site",
  "Luna what's your favorite food? I'm trying to decide what to cook for dinner tomorrow night",
  "the lighting looks really good today, did you get a new lamp or is it the camera?",
  "sending love from Brazil, it's three in the morning here but I had to say hi",
];
const NOTES = ["for the song", "you're the best", "happy birthday!", "do a spin", "keep smiling"];

/** A body of `n` events, oldest first, one a few seconds after another, ending in User456's tip. */
export function roomBody(n, seed = 20) {
  const rnd = random(seed * 1000 + n);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const start = Date.parse("2026-11-30T18:00:00.000Z");
  const context = [];
  for (let k = 0; k < n - 1; k++) {
    const who = pick(VIEWERS);
    const r = rnd();
    let type = "event";
    let text;
    if (r < 0.72) {
      type = "chat";
      text = `${who}: ${pick(CHAT)}`;
    } else if (r < 0.82) {
      type = "tip";
      text = `${who} tipped ${pick([1, 5, 10, 25, 50, 100])} tokens${rnd() < 0.4 ? ` with message: ${pick(NOTES)}` : ""}`;
    } else if (r < 0.92) {
      text = `${who} entered the room`;
    } else if (r < 0.96) {
      text = `${who} left the room`;
    } else if (r < 0.98) {
      text = `${who} has followed`;
    } else {
      type = "chat";
      text = `You: ${pick(["thank you all!", "welcome in!", "brb one sec"])}`;
    }
    context.push({ type, text, timestamp: new Date(start + k * 3000 + 123).toISOString() });
  }
  context.push({ type: "tip", text: "User456 tipped 50 tokens", timestamp: new Date(start + n * 3000 + 123).toISOString() });
  return { context, broadcaster: "Luna", preferences: "Be playful and warm. Never mention my ex.", reason: "tip" };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const n of [20, 500]) {
    const text = JSON.stringify(roomBody(n));
    const file = new URL(`rooms/room-${n}.json`, import.meta.url);
    writeFileSync(file, text + "\n");
    console.log(`${fileURLToPath(file)}: ${n} events, ${Buffer.byteLength(text)} bytes`);
  }
}

// The real coach frontend (honytsoi/CBBroadcastingCoach `static/`, unchanged)
// in Chromium, served same-origin by the built Worker, for the browser tests
// (frontend.test.mjs, session.test.mjs): where the frontend is, what its page
// loads from CDNs (answered empty), the broadcast site's events API for one
// room (played by the test), and a page of the app with every /api/ request
// and response recorded.
//
// Not a test file itself (node --test runs only *.test.mjs).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { interceptOffsite, recordConsole, recordSpeech, seedLocalStorage } from "./browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// COACH_FRONTEND_DIR when set; else beside the checkout, where docs/operations.md
// "Deploy: the checklist" (step 5) puts it; else where this project's own machines keep it
// (../shared beside a worktree, or /work/shared for a clone made elsewhere: CI clones main afresh).
const FRONTEND_CANDIDATES = process.env.COACH_FRONTEND_DIR
  ? [resolve(ROOT, process.env.COACH_FRONTEND_DIR)]
  : [
      resolve(ROOT, "../coach-frontend/static"),
      resolve(ROOT, "../shared/coach-frontend/static"),
      "/work/shared/coach-frontend/static",
    ];
export const FRONTEND = FRONTEND_CANDIDATES.find((dir) => existsSync(dir)) ?? FRONTEND_CANDIDATES[0];

/** Whether FRONTEND holds the app (its index.html and the Worker client). */
export const frontendFound = () =>
  existsSync(resolve(FRONTEND, "index.html")) && existsSync(resolve(FRONTEND, "src/api/cloudflareWorker.js"));

/** What index.html loads from CDNs, answered empty with its content type. */
export const CDN = {
  "https://cdn.jsdelivr.net/npm/jsqr@1.4.0/dist/jsQR.min.js": "application/javascript",
  "https://cdnjs.cloudflare.com/ajax/libs/crypto-js/4.1.1/crypto-js.min.js": "application/javascript",
  "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.5.1/css/all.min.css": "text/css",
  "https://www.adult-webcam-faq.com/wp-content/uploads/cropped-adult-webcam-faq-logo-compressed-1-192x192.png":
    "image/png",
  "https://cdnjs.cloudflare.com/ajax/libs/PapaParse/5.3.0/papaparse.min.js": "application/javascript",
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, predicate, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The events API's URL of `broadcaster`'s room with its secret `token`. */
export const eventsUrlOf = (broadcaster, token) => `https://eventsapi.chaturbate.com/events/${broadcaster}/${token}/`;

// The events API's objects, as it sends them (the app reads the fields in src/app.js processEvent).
export const viewer = (username) => ({
  username,
  inFanclub: false,
  gender: "m",
  hasTokens: true,
  recentTips: "none",
  isMod: false,
});

/** The events of `broadcaster`'s room. */
export function roomOf(broadcaster) {
  return {
    broadcastStart: () => ({ method: "broadcastStart", object: { broadcaster, user: viewer(broadcaster) } }),
    subject: (subject) => ({ method: "roomSubjectChange", object: { broadcaster, subject } }),
    enter: (u) => ({ method: "userEnter", object: { broadcaster, user: viewer(u) } }),
    leave: (u) => ({ method: "userLeave", object: { broadcaster, user: viewer(u) } }),
    follow: (u) => ({ method: "follow", object: { broadcaster, user: viewer(u) } }),
    chat: (u, message) => ({
      method: "chatMessage",
      object: { broadcaster, user: viewer(u), message: { color: "#494949", bgColor: null, font: "default", message } },
    }),
    tip: (u, tokens, message = "", isAnon = false) => ({
      method: "tip",
      object: { broadcaster, user: viewer(u), tip: { tokens, isAnon, message } },
    }),
    privateMessage: (fromUser, message) => ({
      method: "privateMessage",
      object: {
        broadcaster,
        message: { fromUser, toUser: broadcaster, message, color: "", bgColor: null, font: "default" },
      },
    }),
    media: (u, type, name) => ({
      method: "mediaPurchase",
      object: { broadcaster, user: viewer(u), media: { id: 7, type, name, tokens: 50 } },
    }),
  };
}

/** The events that make the app ask for a suggestion (src/app.js processEvent). */
export const TRIGGERS = new Set(["tip", "chatMessage", "userEnter"]);

/**
 * The broadcast site's events API for one room (at `eventsUrl`): a long poll
 * that answers at once with what is queued, or waits up to a second for an
 * event and then answers `{"events": [], "nextUrl": <same>}`.
 */
export class EventsApi {
  constructor(eventsUrl) {
    this.eventsUrl = eventsUrl;
    this.queue = [];
    this.polls = [];
    this.sent = 0;
    this.wake = null;
  }
  push(event) {
    this.queue.push({ ...event, id: `${Date.now()}-${this.sent + this.queue.length}` });
    this.wake?.();
  }
  async answer(url) {
    this.polls.push(url);
    const u = new URL(url);
    if (u.origin + u.pathname !== this.eventsUrl) {
      return { status: 401, contentType: "application/json", body: JSON.stringify({ status: "Unauthorized" }) };
    }
    if (this.queue.length === 0) {
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 1000);
      });
      this.wake = null;
    }
    const events = this.queue.splice(0);
    this.sent += events.length;
    const nextUrl = events.length ? `${this.eventsUrl}?i=${events.at(-1).id}&timeout=10` : url;
    return { contentType: "application/json", body: JSON.stringify({ events, nextUrl }) };
  }
}

/**
 * A page of the frontend served by `w`, opened in `browser` (a Browser or a
 * BrowserContext), with everything it does recorded; its events API answers
 * at `eventsUrl`. `timedSpeech` records each utterance as `{text, at}`
 * (browser.mjs recordSpeech).
 */
export async function openApp(browser, w, { storage, eventsUrl, timedSpeech = false }) {
  const origin = new URL(w.url).origin;
  const page = await browser.newPage();
  const rec = {
    origin,
    page,
    events: new EventsApi(eventsUrl),
    api: [], // {method, path, status, headers, body, postData, at} per /api/ response
    requests: [], // {method, path, headers, postData, at} per /api/ request
    console: recordConsole(page),
    offsite: null,
  };
  await recordSpeech(page, { timed: timedSpeech });
  await seedLocalStorage(page, origin, storage);
  rec.offsite = await interceptOffsite(page, origin, (request) => {
    const url = request.url();
    if (CDN[url]) return { contentType: CDN[url], body: "" };
    if (url.startsWith("https://eventsapi.chaturbate.com/")) return rec.events.answer(url);
    return null;
  });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.origin === origin && u.pathname.startsWith("/api/")) {
      rec.requests.push({ method: r.method(), path: u.pathname, headers: r.headers(), postData: r.postData(), at: Date.now() });
    }
  });
  page.on("response", async (r) => {
    const u = new URL(r.url());
    if (u.origin !== origin || !u.pathname.startsWith("/api/")) return;
    const at = Date.now();
    let body = null;
    try {
      body = await r.text();
    } catch (e) {
      body = `(unreadable: ${e.message})`;
    }
    rec.api.push({
      method: r.request().method(),
      path: u.pathname,
      status: r.status(),
      headers: r.headers(),
      body,
      postData: r.request().postData(),
      at,
    });
  });
  await page.goto(`${origin}/`, { waitUntil: "load" });
  return rec;
}

/** The recorded responses of `rec` to `method path`. */
export const of = (rec, method, path) => rec.api.filter((r) => r.method === method && r.path === path);
export const storageItem = (page, key) => page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? "null"), key);

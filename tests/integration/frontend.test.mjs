// The real coach frontend (honytsoi/CBBroadcastingCoach `static/`, unchanged,
// from COACH_FRONTEND_DIR, else where the deploy checklist puts it,
// ../coach-frontend/static beside this repository) in Chromium, served same-origin by the built Worker
// as wrangler.toml's [assets] will serve it. The test plays the outside world:
// the broadcast site's events API (a scripted room, long-polled), the CDNs
// (empty files), and the model (the harness's simulated AI binding).
//
// It checks what a broadcaster depends on: the model list fills the select,
// a session key is issued and kept, every suggestion request is answered and
// spoken, the events URL's secret token never reaches the model, and an error
// reaches the screen as a sentence.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { interceptOffsite, launchBrowser, recordConsole, recordSpeech, seedLocalStorage, spoken } from "./browser.mjs";
import { BASE_VARS, STATE_VARS, startWorker, step } from "./harness.mjs";

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
const FRONTEND = FRONTEND_CANDIDATES.find((dir) => existsSync(dir)) ?? FRONTEND_CANDIDATES[0];

const BROADCASTER = "zoe_live";
const EVENTS_TOKEN = "s3cr3tT0kenABCDEFGH123456";
const EVENTS_URL = `https://eventsapi.chaturbate.com/events/${BROADCASTER}/${EVENTS_TOKEN}/`;
const SESSION_SECRET = "test-session-secret-0123456789abcdef";
const PREFERENCES = "No talk about feet.";

/** The frontend's own status lines, which are not room events. */
const APP_STATUS_LINES = [
  "Connecting to:",
  "Fetching profile info",
  "Profile information loaded",
  "Reconnected to previously scanned QR code URL",
];

/**
 * A bug of the frontend as published (commit 28129e9): src/displayError.js
 * calls getOrCreateErrorDisplay, which only src/api/cloudflareWorker.js
 * defines, so displayError throws a ReferenceError and an error never reaches
 * #errorDisplay, nor (the next statement) the activity feed. Allowed in the
 * console; the on-screen check is a todo until the frontend is fixed.
 */
const KNOWN_FRONTEND_BUG = {
  where: "src/displayError.js",
  error: "ReferenceError: getOrCreateErrorDisplay is not defined (defined only in src/api/cloudflareWorker.js)",
  pattern: /^ReferenceError: getOrCreateErrorDisplay is not defined\s+at displayError \(\S+\/src\/displayError\.js:/,
};

/** What index.html loads from CDNs, answered empty with its content type. */
const CDN = {
  "https://cdn.jsdelivr.net/npm/jsqr@1.4.0/dist/jsQR.min.js": "application/javascript",
  "https://cdnjs.cloudflare.com/ajax/libs/crypto-js/4.1.1/crypto-js.min.js": "application/javascript",
  "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.5.1/css/all.min.css": "text/css",
  "https://www.adult-webcam-faq.com/wp-content/uploads/cropped-adult-webcam-faq-logo-compressed-1-192x192.png":
    "image/png",
  "https://cdnjs.cloudflare.com/ajax/libs/PapaParse/5.3.0/papaparse.min.js": "application/javascript",
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, predicate, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

// The events API's objects, as it sends them (the app reads the fields in src/app.js processEvent).
const viewer = (username) => ({ username, inFanclub: false, gender: "m", hasTokens: true, recentTips: "none", isMod: false });
const room = {
  broadcastStart: () => ({ method: "broadcastStart", object: { broadcaster: BROADCASTER, user: viewer(BROADCASTER) } }),
  subject: (subject) => ({ method: "roomSubjectChange", object: { broadcaster: BROADCASTER, subject } }),
  enter: (u) => ({ method: "userEnter", object: { broadcaster: BROADCASTER, user: viewer(u) } }),
  leave: (u) => ({ method: "userLeave", object: { broadcaster: BROADCASTER, user: viewer(u) } }),
  follow: (u) => ({ method: "follow", object: { broadcaster: BROADCASTER, user: viewer(u) } }),
  chat: (u, message) => ({
    method: "chatMessage",
    object: { broadcaster: BROADCASTER, user: viewer(u), message: { color: "#494949", bgColor: null, font: "default", message } },
  }),
  tip: (u, tokens, message = "", isAnon = false) => ({
    method: "tip",
    object: { broadcaster: BROADCASTER, user: viewer(u), tip: { tokens, isAnon, message } },
  }),
  privateMessage: (fromUser, message) => ({
    method: "privateMessage",
    object: { broadcaster: BROADCASTER, message: { fromUser, toUser: BROADCASTER, message, color: "", bgColor: null, font: "default" } },
  }),
  media: (u, type, name) => ({ method: "mediaPurchase", object: { broadcaster: BROADCASTER, user: viewer(u), media: { id: 7, type, name, tokens: 50 } } }),
};

/** The room, in order; `say` is the model's line for an event that asks for a suggestion. */
const SCRIPT = [
  { event: room.broadcastStart() },
  { event: room.subject("Cozy chat night with a new playlist") },
  { event: room.enter("max"), say: "Welcome in, Max, glad you came by!" },
  { event: room.chat("max", "hi zoe, how is your evening going?"), say: "Tell Max your evening just got better and ask about his." },
  { event: room.enter("olivia"), say: "Say hi to Olivia and ask where she is watching from." },
  { event: room.tip("olivia", 25, "for the smile"), say: "Thank Olivia warmly for the twenty five tokens." },
  { event: room.follow("olivia") },
  { event: room.chat("sam", "what music is this?"), say: "Tell Sam the name of the song and ask what he likes." },
  { event: room.privateMessage("sam", "love the playlist") },
  { event: room.tip("", 10, "", true), say: "Thank your secret admirer for the kind tip." },
  { event: room.media("ben", "photo", "Beach day") },
  { event: room.chat("ben", "just got the beach set"), say: "Thank Ben for picking up the beach photos." },
  { event: room.enter("lucas"), say: "Welcome Lucas and invite him to join the chat." },
  { event: room.tip("max", 100, "keep it up"), say: "Give Max a big thank you for the hundred tokens." },
  { event: room.chat("olivia", "can you do a little dance?"), say: "Stand up and do a short dance for Olivia." },
  { event: room.leave("sam") },
];
const TRIGGERS = new Set(["tip", "chatMessage", "userEnter"]);

/**
 * The broadcast site's events API for one room: a long poll that answers at
 * once with what is queued, or waits up to a second for an event and then
 * answers `{"events": [], "nextUrl": <same>}`.
 */
class EventsApi {
  constructor() {
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
    if (u.origin + u.pathname !== EVENTS_URL) {
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
    const nextUrl = events.length ? `${EVENTS_URL}?i=${events.at(-1).id}&timeout=10` : url;
    return { contentType: "application/json", body: JSON.stringify({ events, nextUrl }) };
  }
}

/** A page of the frontend served by `w`, with everything it does recorded. */
async function openApp(browser, w, { storage }) {
  const origin = new URL(w.url).origin;
  const page = await browser.newPage();
  const rec = {
    origin,
    page,
    events: new EventsApi(),
    api: [], // {method, path, status, headers, body} per /api/ response
    requests: [], // {method, path, headers, postData} per /api/ request
    console: recordConsole(page),
    offsite: null,
  };
  await recordSpeech(page);
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
      rec.requests.push({ method: r.method(), path: u.pathname, headers: r.headers(), postData: r.postData() });
    }
  });
  page.on("response", async (r) => {
    const u = new URL(r.url());
    if (u.origin !== origin || !u.pathname.startsWith("/api/")) return;
    let body = null;
    try {
      body = await r.text();
    } catch (e) {
      body = `(unreadable: ${e.message})`;
    }
    rec.api.push({ method: r.request().method(), path: u.pathname, status: r.status(), headers: r.headers(), body });
  });
  await page.goto(`${origin}/`, { waitUntil: "load" });
  return rec;
}

const of = (rec, method, path) => rec.api.filter((r) => r.method === method && r.path === path);
const storageItem = (page, key) => page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? "null"), key);
const feedTexts = (page) => page.$$eval("#activityFeed .feed-item", (els) => els.map((e) => e.textContent));

/** Console messages other than the network failures a test provokes on purpose. */
function unexpectedConsole(messages, expected = []) {
  return messages.filter(
    (m) => (m.type === "error" || m.type === "pageerror") && !expected.some((re) => re.test(m.text)),
  );
}

function printConsole(label, messages) {
  const shown = messages.filter((m) => m.type === "error" || m.type === "pageerror" || m.type === "warn");
  console.log(`${label}: ${messages.length} console messages, ${shown.length} errors/warnings`);
  for (const m of shown) console.log(`  [${m.type}] ${m.text.slice(0, 300)}`);
}

describe("the coach frontend in Chromium, served by the Worker", { timeout: 180_000 }, () => {
  let browser;
  let w;
  let app;
  /** Per suggestion-asking event: its scripted line and the answer it got. */
  const asked = [];
  /** The refused suggestion request after the secret changed. */
  let refused;
  const started = Date.now();

  before(async () => {
    assert.ok(
      existsSync(resolve(FRONTEND, "index.html")) && existsSync(resolve(FRONTEND, "src/api/cloudflareWorker.js")),
      `the coach frontend is not at ${FRONTEND} (no index.html and src/api/cloudflareWorker.js there); ` +
        "copy its static/ folder to ../coach-frontend/static beside this repository, or set COACH_FRONTEND_DIR to it",
    );
    w = await startWorker({
      assets: FRONTEND,
      // As wrangler.toml ships it: state objects count callers and remember what was said.
      vars: { ...STATE_VARS, SESSION_KEYS: "open", SESSION_SECRET },
      ratelimits: { SESSION_KEY_LIMITER: { simple: { limit: 100, period: 60 } } },
    });
    browser = await launchBrowser();
    app = await openApp(browser, w, {
      storage: {
        chatCoachConfig: {
          broadcasterName: BROADCASTER,
          scannedUrl: EVENTS_URL,
          promptDelay: 5,
          preferences: PREFERENCES,
          audioEnabled: true,
        },
      },
    });
    // The app loads the models, asks for a session key, and 500 ms after
    // loading connects to the saved events URL.
    // (Without a session key the tests below say what went wrong.)
    await waitFor("the session key in localStorage", () => storageItem(app.page, "chatCoachSession"), 10_000).catch(() => {});
    await waitFor("the first poll of the events API", () => app.events.polls.length > 0);

    for (const { event, say } of SCRIPT) {
      const triggers = TRIGGERS.has(event.method);
      if (!triggers) {
        app.events.push(event);
        await sleep(300);
        continue;
      }
      w.sim.script("*", step.answer(JSON.stringify({ action: "say", content: say })));
      const answered = of(app, "POST", "/api/generate-prompt").length;
      const voiced = (await spoken(app.page)).length;
      app.events.push(event);
      const entry = { method: event.method, say, answer: null };
      asked.push(entry);
      try {
        await waitFor(`the answer to ${event.method}`, () => of(app, "POST", "/api/generate-prompt").length > answered, 10_000);
        entry.answer = of(app, "POST", "/api/generate-prompt").at(-1);
        await waitFor("the answer spoken", async () => (await spoken(app.page)).length > voiced, 3_000).catch(() => {});
      } catch (e) {
        entry.error = e.message;
        // Two suggestion requests in a row never answered: the rest would not be either.
        if (asked.at(-2)?.error) break;
      }
      await sleep(250);
    }
    app.said = await spoken(app.page);
  });

  after(async () => {
    if (app) printFigures();
    await browser?.close();
    await w?.dispose();
  });

  function printFigures() {
    const prompts = of(app, "POST", "/api/generate-prompt");
    console.log(
      [
        `room events delivered: ${app.events.sent}; events API polls: ${app.events.polls.length}`,
        `prompts sent: ${app.requests.filter((r) => r.path === "/api/generate-prompt").length}`,
        `answered 200: ${prompts.filter((r) => r.status === 200).length}`,
        `spoken: ${app.said?.length}`,
        `model calls: ${w.sim.calls.length}`,
        `session keys issued: ${of(app, "POST", "/api/get-session-key").length}`,
        `prompt requests whose context carried the events token (the app's doing): ${
          app.requests.filter((r) => r.path === "/api/generate-prompt" && r.postData?.includes(EVENTS_TOKEN)).length
        }`,
        `leaks found in model inputs: ${leaks().length}`,
        `after the secret changed: ${refused ? `${refused.status} ${refused.body}` : "(not reached)"}`,
        `elapsed: ${((Date.now() - started) / 1000).toFixed(1)} s`,
      ].join("\n"),
    );
  }

  /** What of the events URL or the app's status lines reached the model. */
  function leaks() {
    const found = [];
    w.sim.calls.forEach((call, i) => {
      const input = JSON.stringify(call.input);
      const hits = [EVENTS_TOKEN, "eventsapi", "chaturbate.com/events", "http", ...APP_STATUS_LINES].filter((s) =>
        input.toLowerCase().includes(s.toLowerCase()),
      );
      if (hits.length) found.push(`model call ${i + 1} carries ${hits.map((h) => JSON.stringify(h)).join(", ")}: ${input.slice(0, 600)}`);
    });
    return found;
  }

  it("fills the model select from GET /api/get-models, the Worker's default model first", async () => {
    const [res] = of(app, "GET", "/api/get-models");
    assert.ok(res, "the app did not call GET /api/get-models");
    assert.equal(res.status, 200, res.body);
    const models = JSON.parse(res.body);
    assert.ok(Array.isArray(models) && models.length > 0, res.body);
    for (const m of models) {
      for (const k of ["id", "name", "description", "provider"]) assert.equal(typeof m[k], "string", JSON.stringify(m));
    }
    assert.equal(models[0].id, BASE_VARS.DEFAULT_MODEL);
    const options = await app.page.$$eval("#aiModel option", (os) => os.map((o) => o.value));
    assert.deepEqual(options, models.map((m) => m.id));
    assert.equal(await app.page.$eval("#aiModel", (s) => s.value), BASE_VARS.DEFAULT_MODEL);
  });

  it("gets a session key from POST /api/get-session-key and keeps it in localStorage", async () => {
    const issued = of(app, "POST", "/api/get-session-key");
    assert.ok(issued.length >= 1, "the app did not ask for a session key");
    for (const res of issued) {
      assert.equal(res.status, 200, res.body);
      const body = JSON.parse(res.body);
      assert.match(body.sessionKey, /^\S{16,}$/, res.body);
      assert.ok(Date.parse(body.expiresAt) > Date.now(), `expiresAt ${body.expiresAt} is not a future RFC 3339 time`);
    }
    const asks = app.requests.filter((r) => r.path === "/api/get-session-key").map((r) => JSON.parse(r.postData));
    assert.deepEqual(asks[0], { username: "user", broadcaster: BROADCASTER });
    const stored = await storageItem(app.page, "chatCoachSession");
    const keys = [...issued, ...of(app, "POST", "/api/generate-prompt")].map((r) => JSON.parse(r.body).sessionKey).filter(Boolean);
    assert.ok(keys.includes(stored?.sessionKey), `localStorage chatCoachSession ${JSON.stringify(stored)} is not a key the Worker issued`);
  });

  it("answers every POST /api/generate-prompt with 200; the app sends its session key and no Authorization", async () => {
    const sent = app.requests.filter((r) => r.path === "/api/generate-prompt");
    const answers = of(app, "POST", "/api/generate-prompt");
    assert.ok(sent.length >= 5, `only ${sent.length} suggestion requests were sent`);
    assert.equal(answers.length, sent.length, "a suggestion request got no response");
    for (const res of answers) {
      assert.equal(res.status, 200, res.body);
      const body = JSON.parse(res.body);
      assert.ok(["say", "do", "wait"].includes(body.action), res.body);
      assert.equal(typeof body.content, "string", res.body);
    }
    for (const req of sent) {
      assert.equal(req.headers.authorization, undefined, "the app sent an Authorization header");
      const body = JSON.parse(req.postData);
      assert.equal(typeof body.sessionKey, "string", req.postData);
      assert.ok(body.sessionKey.length > 0, req.postData);
      assert.equal(body.broadcaster, BROADCASTER);
      assert.equal(body.preferences, PREFERENCES);
      assert.ok(Array.isArray(body.context) && body.context.length > 0, req.postData);
    }
    for (const a of asked) assert.ok(a.answer, `no answer to ${a.method}: ${a.error}`);
  });

  it("speaks every suggestion, and the suggestions are the model's lines", async () => {
    const said = app.said;
    const contents = of(app, "POST", "/api/generate-prompt").map((r) => JSON.parse(r.body).content?.trim() ?? "");
    for (const c of contents) assert.ok(said.includes(c), `not spoken: ${JSON.stringify(c)}; spoken: ${JSON.stringify(said)}`);
    for (const a of asked) {
      assert.equal(JSON.parse(a.answer.body).content, a.say, `the answer to ${a.method} is not the model's line`);
    }
  });

  it("never lets the events URL or the app's status lines reach the model", async () => {
    const answered = of(app, "POST", "/api/generate-prompt").length;
    assert.ok(w.sim.calls.length >= answered, `${w.sim.calls.length} model calls for ${answered} answers`);
    assert.deepEqual(leaks(), []);
    // The app itself does send the events URL to the Worker (its status line
    // "Connecting to: <url>" is in the context); the Worker must not log it.
    const logged = w.logs.join("").includes(EVENTS_TOKEN);
    assert.equal(logged, false, "the Worker logged the events token");
  });

  it("sends nothing off the origin but the CDN files and the events API", async () => {
    const hosts = new Set(app.offsite.map((r) => r.host));
    assert.deepEqual(
      [...hosts].filter((h) => !["cdn.jsdelivr.net", "cdnjs.cloudflare.com", "www.adult-webcam-faq.com", "eventsapi.chaturbate.com"].includes(h)),
      [],
    );
    assert.ok(app.events.polls.every((u) => u.startsWith(EVENTS_URL)), app.events.polls.join("\n"));
    assert.equal(app.events.sent, SCRIPT.length, "not every room event was delivered");
  });

  it("logs no console error", async () => {
    printConsole("main run", app.console);
    assert.deepEqual(unexpectedConsole(app.console), []);
  });

  describe("after the session secret changed (a redeploy), the key the browser kept", () => {
    let w2;
    let app2;
    before(async () => {
      // The same browser profile state (config and the old session key),
      // now served by a Worker with a new SESSION_SECRET.
      const kept = {
        chatCoachConfig: await storageItem(app.page, "chatCoachConfig"),
        chatCoachSession: await storageItem(app.page, "chatCoachSession"),
      };
      await app.page.close();
      w2 = await startWorker({
        assets: FRONTEND,
        vars: { SESSION_KEYS: "open", SESSION_SECRET: "rotated-session-secret-fedcba9876543210" },
        ratelimits: { SESSION_KEY_LIMITER: { simple: { limit: 100, period: 60 } } },
      });
      app2 = await openApp(browser, w2, { storage: kept });
      await waitFor("the first poll of the events API", () => app2.events.polls.length > 0);
      app2.events.push(room.chat("max", "hello again, are you there?"));
      refused = await waitFor("the answer to the chat message", () => of(app2, "POST", "/api/generate-prompt")[0]);
      await waitFor("the app's handling of the error", () => app2.console.some((m) => m.type === "pageerror" || m.text.startsWith("Error generating coaching prompt:")), 3_000).catch(() => {});
      await sleep(300);
    });
    after(async () => {
      await app2?.page.close();
      await w2?.dispose();
    });

    /** The Worker's `error` sentence. */
    const message = () => JSON.parse(refused.body).error;

    it("is refused with 401 and a sentence the app turns into its Error", async () => {
      assert.equal(refused.status, 401, refused.body);
      const body = JSON.parse(refused.body);
      assert.equal(typeof body.error, "string", `"error" is not a string: ${refused.body}`);
      assert.equal(typeof body.code, "string", refused.body);
      assert.ok(body.error.length > 20 && /[a-z]{3,} [a-z]{2,}/i.test(body.error), `not a sentence: ${body.error}`);
      // cloudflareWorker.js: `throw new Error(errorData.error || ...)`, then
      // `console.error('Error generating coaching prompt:', error)`. An object
      // there would read "[object Object]".
      const logged = app2.console.filter((m) => m.text.startsWith("Error generating coaching prompt:"));
      assert.deepEqual(
        logged.map((m) => m.text),
        [`Error generating coaching prompt: Error: ${body.error}`],
      );
      assert.deepEqual(await spoken(app2.page), [], "an error was spoken");
    });

    it(
      "shows it on screen (#errorDisplay) and in the activity feed",
      { todo: `the frontend's ${KNOWN_FRONTEND_BUG.where} throws ${KNOWN_FRONTEND_BUG.error}` },
      async () => {
        const shown = await app2.page.$eval("#errorDisplay", (e) => ({ text: e.innerText, display: e.style.display }));
        assert.equal(shown.display, "block");
        assert.ok(shown.text.includes(message()), `#errorDisplay shows ${JSON.stringify(shown.text)}`);
        assert.ok(!shown.text.includes("[object Object]"), shown.text);
        const feed = await feedTexts(app2.page);
        assert.ok(feed.includes(`Error generating prompt: ${message()}`), feed.join("\n"));
      },
    );

    it("logs only the refusal in the console (and the frontend's known error)", async () => {
      printConsole("after the secret changed", app2.console);
      assert.deepEqual(
        unexpectedConsole(app2.console, [
          /the server responded with a status of 401/,
          /^Error generating coaching prompt: Error: /,
          KNOWN_FRONTEND_BUG.pattern,
        ]),
        [],
      );
    });
  });
});

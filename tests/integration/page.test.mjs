// The page at `/` (public/: index.html, app.js, style.css, _headers) in
// Chromium, served same-origin by the built Worker as wrangler.toml's
// [assets] serves it, with session keys open and the simulated model scripted.
//
// It checks what issue 21 promises: the page loads under its
// Content-Security-Policy with no console error and no request off its
// origin; a ready-made room played by keyboard shows the deltas in order, the
// final answer and its facts, and speaks them; a second "Coach me" sends the
// first answer back in `recent`; the room editor builds the context; an error
// shows the Worker's message (a 400 marks its field, a 429 shows its wait);
// axe-core (npm, not written here) finds no serious or critical violation.
// A screenshot after a suggestion goes to test-output/ for a person to look at.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { interceptOffsite, launchBrowser, recordConsole, recordSpeech, spoken } from "./browser.mjs";
import { BASE_VARS, startWorker, STATE_VARS, step, TOKEN } from "./harness.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PUBLIC = join(ROOT, "public");
const OUT = join(ROOT, "test-output");
const AXE = readFileSync(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
const AXE_VERSION = JSON.parse(readFileSync(join(ROOT, "node_modules/axe-core/package.json"), "utf8")).version;

// As wrangler.toml ships it: state objects count callers and remember what was said.
const SESSION = { ...STATE_VARS, SESSION_KEYS: "open", SESSION_SECRET: "test-session-secret-0123456789abcdef" };
const LIMITS = { SESSION_KEY_LIMITER: { simple: { limit: 100, period: 60 } } };
const MODEL = BASE_VARS.DEFAULT_MODEL;

// Two answers for the tip storm room (Max, Olivia, Ben are in it).
const FIRST = "Thank Max for the two hundred tokens and play his song next.";
const SECOND = "Ask Olivia what song she wants after that one.";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, predicate, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A streamed answer: one word every `gapMs`. */
const streamed = (text, gapMs = 40) => ({ ...step.answer(text), gapMs });

/** The page served by `w`, with what it does recorded. */
async function openPage(browser, w) {
  const origin = new URL(w.url).origin;
  const page = await browser.newPage();
  const rec = { origin, page, console: recordConsole(page), bodies: [], responses: [] };
  await recordSpeech(page);
  // Each text node the page adds to #words (a delta), with when it came.
  await page.evaluateOnNewDocument(() => {
    window.__deltas = [];
    document.addEventListener("DOMContentLoaded", () => {
      const words = document.getElementById("words");
      new MutationObserver((batch) => {
        for (const m of batch) for (const n of m.addedNodes) window.__deltas.push({ text: n.textContent, at: performance.now() });
      }).observe(words, { childList: true });
    });
  });
  rec.offsite = await interceptOffsite(page, origin);
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.origin === origin && u.pathname === "/api/generate-prompt") rec.bodies.push(JSON.parse(r.postData()));
  });
  page.on("response", (r) => {
    const u = new URL(r.url());
    if (u.origin === origin) rec.responses.push({ path: u.pathname, status: r.status(), headers: r.headers() });
  });
  rec.main = await page.goto(`${origin}/`, { waitUntil: "load" });
  await waitFor("the model list", () => page.$eval("#model", (s) => s.options.length > 1));
  return rec;
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent.trim());
const deltas = (page) => page.evaluate(() => window.__deltas);
const errors = (messages) => messages.filter((m) => m.type === "error" || m.type === "pageerror");

/** Presses "Coach me" and waits for the answer's action (or an error). */
async function coachMe(page) {
  await page.evaluate(() => {
    window.__deltas = [];
    document.getElementById("f-action").textContent = "–";
  });
  await page.click("#coach");
  await waitFor("an answer or an error", async () =>
    (await text(page, "#f-action")) !== "–" || (await text(page, "#error")) !== "",
  );
  await waitFor("the request to finish", () => page.$eval("#coach", (b) => !b.hasAttribute("aria-busy")));
}

async function axe(page) {
  await page.evaluate(AXE); // through DevTools, which the page's CSP does not govern
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser?.close());

describe("the page at / in Chromium", { timeout: 120_000 }, () => {
  let w;
  before(async () => {
    w = await startWorker({ assets: PUBLIC, vars: SESSION, ratelimits: LIMITS });
  });
  after(() => w?.dispose());

  it("loads under a strict Content-Security-Policy with no console error and no request off its origin", async (t) => {
    const rec = await openPage(browser, w);
    const { page } = rec;
    const csp = rec.main.headers()["content-security-policy"];
    assert.ok(csp, "the page has no Content-Security-Policy header (public/_headers)");
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(d), `CSP lacks ${d}: ${csp}`);
    }
    assert.equal(rec.main.headers()["x-content-type-options"], "nosniff");
    // Every file of the page, and the two API calls it makes on load.
    const paths = rec.responses.map((r) => `${r.path} ${r.status}`).sort();
    assert.deepEqual(paths, ["/ 200", "/api/get-session-key 200", "/api/models 200", "/app.js 200", "/favicon.svg 200", "/style.css 200"].sort());
    // The policy is enforced: an inline script does not run.
    const inline = await page.evaluate(async () => {
      const violated = new Promise((r) => document.addEventListener("securitypolicyviolation", (e) => r(e.violatedDirective), { once: true }));
      const s = document.createElement("script");
      s.textContent = "window.__inlineRan = true";
      document.body.append(s);
      return { ran: window.__inlineRan === true, violated: await violated };
    });
    assert.deepEqual(inline, { ran: false, violated: "script-src-elem" });
    rec.console.splice(0); // the refused inline script's report, provoked above
    // The model picker lists GET /api/models, the default chosen.
    const listing = await (await w.fetch("/api/models", { headers: { Authorization: "Bearer test-token-0123456789abcdef" } })).json();
    const options = await page.$$eval("#model option", (os) => os.map((o) => ({ value: o.value, selected: o.selected })));
    assert.deepEqual(options.map((o) => o.value), listing.models.map((m) => m.id));
    assert.equal(options.find((o) => o.selected).value, listing.default);
    // Readable at 320 px: nothing wider than the screen.
    await page.setViewport({ width: 320, height: 640 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 320, `the page is ${width} px wide at a 320 px viewport`);
    // The key is kept in this tab only.
    const kept = await page.evaluate(() => JSON.parse(sessionStorage.getItem("coach.sessionKey")));
    assert.match(kept.key, /^cs2\./);
    assert.equal(kept.name, "luna");
    assert.deepEqual(errors(rec.console), [], JSON.stringify(rec.console));
    assert.deepEqual(rec.offsite, []);
    t.diagnostic(`CSP: ${csp}`);
    await page.close();
  });

  it("plays a ready-made room by keyboard: the answer in one delta, then its facts, spoken; a second Coach me sends it back in recent", async (t) => {
    w.sim.reset();
    w.sim.script(MODEL, streamed(FIRST), streamed(SECOND, 10));
    const rec = await openPage(browser, w);
    const { page } = rec;
    await page.setViewport({ width: 800, height: 900 });
    // By keyboard: the "Tip storm" button, then Tab to "Coach me".
    await page.focus("[data-room=storm]");
    await page.keyboard.press("Enter");
    assert.equal((await page.$$("#room li")).length, 5);
    let tabs = 0;
    while ((await page.evaluate(() => document.activeElement.id)) !== "coach") {
      await page.keyboard.press("Tab");
      assert.ok(++tabs < 40, "Tab never reached Coach me");
    }
    await page.keyboard.press("Enter");
    await waitFor("the first answer", async () => (await text(page, "#f-action")) !== "–");

    // A stream speaks only what stands as the whole answer: one delta, when the model has finished.
    const seen = await deltas(page);
    assert.deepEqual(seen.map((d) => d.text), [FIRST], JSON.stringify(seen));
    assert.equal(await text(page, "#words"), FIRST);
    assert.equal(await text(page, "#f-action"), "say");
    assert.equal(await text(page, "#f-model"), MODEL);
    assert.equal(await text(page, "#f-fallback"), "no");
    assert.equal(await text(page, "#f-refused"), "none");
    assert.equal(await text(page, "#f-retired"), "none");
    assert.match(await text(page, "#f-first"), /^\d+ ms$/);
    assert.match(await text(page, "#f-id"), /^[0-9a-f]{32}$/);
    const said = await spoken(page);
    assert.deepEqual(said, [FIRST], "the delta is spoken as it comes");

    const [first] = rec.bodies;
    assert.equal(first.stream, true);
    assert.equal(first.broadcaster, "Luna");
    assert.equal(first.aimodel, MODEL);
    assert.equal(first.reason, "tip");
    assert.deepEqual(first.recent, []);
    assert.deepEqual(first.context.map((e) => `${e.type}|${e.text}`), [
      "tip|Max tipped 50 tokens",
      "tip|Olivia tipped 100 tokens",
      "chat|Max: that one is for the song!",
      "tip|Ben tipped 25 tokens",
      "tip|Max tipped 200 tokens",
    ]);
    assert.ok(first.context.every((e) => !Number.isNaN(Date.parse(e.timestamp))));

    mkdirSync(OUT, { recursive: true });
    const shot = join(OUT, "page-after-suggestion.png");
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    console.log(`screenshot after a suggestion: ${shot}`);

    await coachMe(page);
    assert.equal(rec.bodies.length, 2);
    assert.deepEqual(rec.bodies[1].recent, [FIRST], "the first answer goes back in recent");
    assert.equal(await text(page, "#words"), SECOND);
    assert.equal((await spoken(page)).join(" "), `${FIRST} ${SECOND}`);
    assert.deepEqual(await page.$$eval("#recent li", (li) => li.map((l) => l.textContent)), [FIRST, SECOND]);

    await page.setViewport({ width: 320, height: 640 });
    const narrow = join(OUT, "page-320px.png");
    await page.screenshot({ path: narrow, fullPage: true });
    t.diagnostic(`screenshot at 320 px: ${narrow}`);
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 320);
    assert.deepEqual(errors(rec.console), [], JSON.stringify(rec.console));
    assert.deepEqual(rec.offsite, []);
    await page.close();
  });

  it("the room editor builds the context: a chat line, a tip and an entrance", async () => {
    w.sim.reset();
    w.sim.script(MODEL, streamed("Welcome Zed and thank Ann for the tip.", 0));
    const rec = await openPage(browser, w);
    const { page } = rec;
    await page.type("#who", "Ann");
    await page.type("#msg", "hello there");
    await page.keyboard.press("Enter");
    await page.click("input[name=kind][value=tip]");
    assert.equal(await page.$eval("#msg", (e) => e.offsetParent), null, "the message field is hidden for a tip");
    await page.type("#who", "Ann");
    await page.$eval("#tokens", (e) => (e.value = ""));
    await page.type("#tokens", "75");
    await page.keyboard.press("Enter");
    await page.click("input[name=kind][value=join]");
    await page.type("#who", "Zed");
    await page.keyboard.press("Enter");
    await coachMe(page);
    assert.deepEqual(rec.bodies[0].context.map((e) => `${e.type}|${e.text}`), [
      "chat|Ann: hello there",
      "tip|Ann tipped 75 tokens",
      "join|Zed entered the room",
    ]);
    assert.equal(rec.bodies[0].reason, "userEnter");
    // Remove the tip with its own button.
    await page.click('#room button[aria-label="Remove: Ann tipped 75 tokens"]');
    assert.deepEqual(await page.$$eval("#room li span", (s) => s.map((x) => x.textContent)), ["Ann: hello there", "Zed entered the room"]);
    assert.deepEqual(errors(rec.console), []);
    await page.close();
  });

  it("a 400 shows the Worker's message and marks the field it names", async () => {
    const rec = await openPage(browser, w);
    const { page } = rec;
    await page.$eval("#name", (e) => (e.value = ""));
    await page.type("#name", "x".repeat(64) + "y");
    await page.$eval("#name", (e) => e.removeAttribute("maxlength")); // the page's own limit aside
    await page.type("#name", "z");
    await coachMe(page);
    const refused = rec.responses.find((r) => r.status === 400);
    assert.ok(refused, JSON.stringify(rec.responses));
    const message = await text(page, "#error");
    assert.match(message, /`broadcaster`/);
    assert.equal(await page.$eval("#name", (e) => e.getAttribute("aria-invalid")), "true");
    assert.equal(await page.evaluate(() => document.activeElement.id), "name");
    await page.close();
  });

  it("a new broadcaster name gets its own session key; a key the Worker refuses is replaced once", async () => {
    w.sim.reset();
    w.sim.script(MODEL, streamed(FIRST, 0), streamed(SECOND, 0));
    const rec = await openPage(browser, w);
    const { page } = rec;
    await page.click("[data-room=storm]");
    await page.$eval("#name", (e) => (e.value = ""));
    await page.type("#name", "Mia Rose");
    await coachMe(page);
    const calls = () => rec.responses.filter((r) => r.path.startsWith("/api/")).map((r) => `${r.path} ${r.status}`);
    assert.deepEqual(calls().slice(2), ["/api/get-session-key 200", "/api/generate-prompt 200"]);
    assert.equal(rec.bodies[0].broadcaster, "Mia Rose");
    assert.equal(await page.evaluate(() => JSON.parse(sessionStorage.getItem("coach.sessionKey")).name), "mia rose");
    assert.match(await text(page, "#cred"), /^Using a session key for Mia Rose until /);
    // A key with a forged signature (as after SESSION_SECRET is rotated): 401, a new key, the same request again.
    await page.evaluate(() => {
      const kept = JSON.parse(sessionStorage.getItem("coach.sessionKey"));
      kept.key = kept.key.replace(/[0-9a-f]{64}$/, "0".repeat(64));
      sessionStorage.setItem("coach.sessionKey", JSON.stringify(kept));
    });
    const before = calls().length;
    await coachMe(page);
    assert.deepEqual(calls().slice(before), ["/api/generate-prompt 401", "/api/get-session-key 200", "/api/generate-prompt 200"]);
    assert.equal(await text(page, "#words"), SECOND);
    assert.equal(await text(page, "#error"), "");
    assert.deepEqual(errors(rec.console).map((m) => m.text), ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]);
    await page.close();
  });

  it("a repeat of a recent line is never spoken: nothing of it is sent, and another model's line comes instead", async () => {
    w.sim.reset();
    w.sim.script(MODEL, streamed(FIRST, 0));
    const rec = await openPage(browser, w);
    const { page } = rec;
    await page.click("[data-room=storm]");
    await coachMe(page);
    assert.equal(await text(page, "#words"), FIRST);
    await coachMe(page); // the same answer again: refused as a repeat before a word is sent
    assert.deepEqual(rec.bodies[1].recent, [FIRST]);
    const words = await text(page, "#words");
    assert.notEqual(words, FIRST);
    assert.notEqual(await text(page, "#f-model"), MODEL);
    assert.equal(await text(page, "#error"), "");
    assert.deepEqual((await spoken(page)).slice(1), [words], "only the other line is spoken the second time");
    assert.deepEqual(await page.$$eval("#recent li", (li) => li.map((l) => l.textContent)), [FIRST, words]);
    await page.close();
  });

  it("when the rules coach stands in for refused lines, the facts say which model answered and why", async () => {
    w.sim.reset();
    w.sim.script("*", streamed("I'm sorry, but I can't help with that request.", 0));
    const { page } = await openPage(browser, w);
    await page.click("[data-room=storm]");
    await coachMe(page);
    assert.equal(await text(page, "#f-model"), "rules");
    assert.equal(await text(page, "#f-fallback"), "yes");
    assert.equal(await text(page, "#f-refused"), "refusal or meta-talk; refusal or meta-talk");
    await page.close();
  });

  it("passes axe-core with no serious or critical violation, light and dark", async (t) => {
    w.sim.reset();
    w.sim.script(MODEL, streamed(FIRST, 0));
    const rec = await openPage(browser, w);
    const { page } = rec;
    await page.click("[data-room=storm]");
    await coachMe(page);
    const found = {};
    for (const scheme of ["light", "dark"]) {
      await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
      found[scheme] = await axe(page);
      t.diagnostic(`axe-core ${AXE_VERSION}, ${scheme}: ${found[scheme].length} violations ${JSON.stringify(found[scheme])}`);
    }
    for (const scheme of ["light", "dark"]) {
      const bad = found[scheme].filter((v) => v.impact === "serious" || v.impact === "critical");
      assert.deepEqual(bad, [], `${scheme}: ${JSON.stringify(bad)}`);
    }
    await page.close();
  });
});

describe("the page under a low rate limit", { timeout: 60_000 }, () => {
  let w;
  before(async () => {
    w = await startWorker({ assets: PUBLIC, vars: { ...SESSION, RATE_LIMIT_PER_MINUTE: "1" }, ratelimits: LIMITS });
  });
  after(() => w?.dispose());

  it("shows a 429 as the Worker's message with its wait", async () => {
    w.sim.script(MODEL, streamed(FIRST, 0));
    const rec = await openPage(browser, w);
    const { page } = rec;
    await page.click("[data-room=storm]");
    let limited;
    for (let i = 0; i < 3 && !limited; i++) {
      await coachMe(page);
      limited = rec.responses.find((r) => r.path === "/api/generate-prompt" && r.status === 429);
    }
    assert.ok(limited, JSON.stringify(rec.responses));
    const wait = limited.headers["retry-after"];
    assert.match(wait, /^\d+$/);
    assert.match(await text(page, "#error"), /Too many requests; try again in \d+ s/);
    assert.match(await text(page, "#wait"), new RegExp(`^Retry-After: ${wait} s\\. You can ask again in \\d+ s\\.$`));
    assert.equal(await text(page, "#words"), "");
    assert.deepEqual(rec.offsite, []);
    await page.close();
  });
});

describe("the page on a deployment that issues no session keys", { timeout: 60_000 }, () => {
  let w;
  before(async () => {
    w = await startWorker({ assets: PUBLIC, vars: { SESSION_KEYS: "off" } });
  });
  after(() => w?.dispose());

  it("shows the Worker's message, takes a pasted token and keeps it only in session storage", async () => {
    w.sim.script(MODEL, streamed(FIRST, 0));
    const origin = new URL(w.url).origin;
    const page = await browser.newPage();
    const messages = recordConsole(page);
    const auth = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname.startsWith("/api/")) auth.push(`${new URL(r.url()).pathname} ${r.headers().authorization ?? "-"}`);
    });
    await page.goto(`${origin}/`, { waitUntil: "load" });
    await waitFor("the refusal", async () => (await text(page, "#error")) !== "");
    const refusal = await (await w.fetch("/api/get-session-key", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "user", broadcaster: "Luna" }),
    })).json();
    assert.equal(refusal.code, "session_keys_off");
    assert.equal(await text(page, "#error"), refusal.error);
    assert.equal(await page.$eval("#tokenBox", (d) => d.open), true);
    await page.type("#token", TOKEN);
    await page.keyboard.press("Enter");
    await waitFor("the model list", () => page.$eval("#model", (s) => s.options.length > 1));
    assert.equal(await text(page, "#error"), "");
    assert.equal(await text(page, "#cred"), "Using your token.");
    await page.click("[data-room=quiet]");
    w.sim.script(MODEL, streamed("Say hi to Sam and ask how his day was.", 0));
    await coachMe(page);
    assert.equal(await text(page, "#words"), "Say hi to Sam and ask how his day was.");
    assert.deepEqual(auth, [
      "/api/get-session-key -",
      "/api/models " + `Bearer ${TOKEN}`,
      "/api/generate-prompt " + `Bearer ${TOKEN}`,
    ]);
    const stored = await page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage } }));
    assert.deepEqual(stored, { session: { "coach.token": TOKEN }, local: {} });
    assert.equal(await page.$eval("#token", (e) => e.value), "", "the field does not keep the token");
    assert.deepEqual(errors(messages).map((m) => m.text), ["Failed to load resource: the server responded with a status of 403 (Forbidden)"]);
    await page.close();
  });
});

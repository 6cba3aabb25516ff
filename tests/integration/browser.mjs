// A real browser for the integration tests: Debian's Chromium (installed by
// ./scripts/setup) driven by puppeteer-core, with helpers a page test needs:
// record what the page speaks, answer or refuse every request that leaves the
// page's origin (the test plays the outside world), seed localStorage, and
// collect console messages and uncaught errors.
//
// Not a test file itself (node --test runs only *.test.mjs).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

/** The browser binary; CHROMIUM_PATH overrides Debian's. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];

/**
 * Launches Chromium headless with a fresh profile (a temporary
 * --user-data-dir, removed when the browser closes). `args` adds flags.
 */
export async function launchBrowser({ args = [] } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run ./scripts/setup (it installs Debian's chromium), or set CHROMIUM_PATH`);
  }
  const profile = mkdtempSync(join(tmpdir(), "coach-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args],
    protocolTimeout: 60_000,
  });
  // Once the browser process has exited, its profile goes.
  browser.process()?.once("exit", () => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A leftover temporary directory is harmless.
    }
  });
  return browser;
}

/**
 * Records the text of every utterance the page passes to
 * `speechSynthesis.speak` in `window.__spoken` (an array), from the first
 * script of every document on. Nothing is actually spoken. With `timed`,
 * each entry is `{text, at}`, `at` the page's Date.now() when it was passed
 * (what a session test needs to play the earpiece's queue back).
 */
export async function recordSpeech(page, { timed = false } = {}) {
  await page.evaluateOnNewDocument((timed) => {
    window.__spoken = [];
    if (!("speechSynthesis" in window)) return;
    window.speechSynthesis.speak = (utterance) => {
      window.__spoken.push(timed ? { text: utterance.text, at: Date.now() } : utterance.text);
    };
  }, timed);
}

/** What the page has spoken so far (`window.__spoken`): texts, or `{text, at}` when recorded timed. */
export function spoken(page) {
  return page.evaluate(() => window.__spoken ?? []);
}

/**
 * Sets localStorage entries (`{key: value}`; non-strings are JSON-encoded)
 * before any script of a document of `origin` runs, on every load until the
 * returned function removes the hook.
 */
export async function seedLocalStorage(page, origin, entries) {
  const items = Object.entries(entries).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
  const { identifier } = await page.evaluateOnNewDocument(
    (origin, items) => {
      if (location.origin !== origin) return;
      for (const [k, v] of items) localStorage.setItem(k, v);
    },
    origin,
    items,
  );
  return () => page.removeScriptToEvaluateOnNewDocument(identifier);
}

/**
 * Intercepts every request of `page`. Requests to `origin` (and data:/blob:
 * URLs) go through untouched. Any other request is recorded in the returned
 * array `offsite` (`{url, host, method, resourceType, headers, postData,
 * status | refused}`) and passed to `handler(request, entry)`, which returns
 * (or resolves to) the answer, `{status = 200, contentType, headers, body}`,
 * or null to refuse it (the page sees a network error). A handler may wait
 * before answering (a long poll). Answers carry
 * `Access-Control-Allow-Origin: *` unless their headers say otherwise, so
 * the page's cross-origin fetches can read them.
 */
export async function interceptOffsite(page, origin, handler = () => null) {
  const offsite = [];
  await page.setRequestInterception(true);
  page.on("request", async (request) => {
    const url = request.url();
    if (/^(data|blob):/.test(url) || new URL(url).origin === origin) {
      request.continue().catch(() => {});
      return;
    }
    const entry = {
      url,
      host: new URL(url).host,
      method: request.method(),
      resourceType: request.resourceType(),
      headers: request.headers(),
      postData: request.postData(),
    };
    offsite.push(entry);
    let answer = null;
    try {
      answer = await handler(request, entry);
    } catch (e) {
      entry.error = String(e?.stack ?? e);
    }
    try {
      if (answer) {
        entry.status = answer.status ?? 200;
        await request.respond({
          status: entry.status,
          contentType: answer.contentType,
          headers: { "Access-Control-Allow-Origin": "*", ...(answer.headers ?? {}) },
          body: answer.body ?? "",
        });
      } else {
        entry.refused = true;
        await request.abort("blockedbyclient");
      }
    } catch {
      // The page went away (closed or navigated) while the answer was pending.
    }
  });
  return offsite;
}

/**
 * Collects the page's console messages (`{type, text, url}`) and uncaught
 * errors (`{type: "pageerror", text}`) in the returned array.
 */
export function recordConsole(page) {
  const messages = [];
  page.on("console", (m) => messages.push({ type: m.type(), text: m.text(), url: m.location()?.url }));
  page.on("pageerror", (e) => messages.push({ type: "pageerror", text: String(e?.stack ?? e) }));
  return messages;
}

// The page at `/`: a room to play against this Worker's /api/generate-prompt.
// No framework, no build step; talks only to its own origin.
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = "coach.sessionKey"; // {key, expiresAt, name}
const TOKEN = "coach.token";
const voice = "speechSynthesis" in window ? window.speechSynthesis : null;
let room = [];
let recent = [];
let busy = false;
let waitTimer = 0;

const ROOMS = {
  quiet: [["join", "Sam"], ["chat", "Sam", "hi, anyone here?"]],
  storm: [["tip", "Max", 50], ["tip", "Olivia", 100], ["chat", "Max", "that one is for the song!"], ["tip", "Ben", 25], ["tip", "Max", 200]],
  troll: [["join", "Troll42"], ["chat", "Olivia", "love the stream tonight"], ["chat", "Troll42", "boring, nobody watches this"], ["chat", "Troll42", "BORING BORING BORING"]],
  spam: [["chat", "FreeTokens4u", "FREE TOKENS at my page, click now"], ["chat", "FreeTokens4u", "FREE TOKENS at my page, click now"], ["chat", "CamBoost", "get 1000 followers today"], ["chat", "Max", "is the chat broken?"]],
};
const REASON = { chat: "chatMessage", tip: "tip", join: "userEnter" };

function roomEvent(type, who, extra, at = new Date()) {
  const text = type === "chat" ? `${who}: ${extra}` : type === "tip" ? `${who} tipped ${extra} tokens` : `${who} entered the room`;
  return { type, text, timestamp: at.toISOString() };
}

function drawRoom() {
  const list = $("room");
  list.replaceChildren(...room.map((e, i) => {
    const li = document.createElement("li");
    const text = document.createElement("span");
    text.textContent = e.text;
    text.className = e.type;
    const rm = document.createElement("button");
    rm.type = "button";
    rm.textContent = "Remove";
    rm.setAttribute("aria-label", `Remove: ${e.text}`);
    rm.addEventListener("click", () => {
      room.splice(i, 1);
      drawRoom();
      $("who").focus();
    });
    li.append(text, " ", rm);
    return li;
  }));
  $("empty").hidden = room.length > 0;
}

function kind() {
  return document.querySelector("input[name=kind]:checked").value;
}

// ---- credentials: a session key for this name, or a pasted token ----

const norm = (name) => name.trim().replace(/\s+/g, " ").toLowerCase();
const read = (k) => { try { return JSON.parse(sessionStorage.getItem(k)); } catch { return null; } };

class Failure extends Error {
  constructor(status, body, retryAfter) {
    super(body?.error || `The Worker answered ${status}.`);
    this.status = status;
    this.code = body?.code;
    this.field = body?.field;
    this.retryAfter = retryAfter;
  }
}

async function failure(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  return new Failure(resp.status, body, resp.headers.get("Retry-After"));
}

async function credential(name) {
  const token = sessionStorage.getItem(TOKEN);
  if (token) return { kind: "token", value: token };
  const kept = read(KEY);
  if (kept && kept.name === norm(name) && Date.parse(kept.expiresAt) > Date.now() + 60_000) return { kind: "key", value: kept.key };
  const resp = await fetch("api/get-session-key", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "user", broadcaster: name }),
  });
  if (!resp.ok) {
    const f = await failure(resp);
    if (f.code === "session_keys_off") $("tokenBox").open = true;
    throw f;
  }
  const { sessionKey, expiresAt } = await resp.json();
  keepKey(sessionKey, expiresAt, name);
  return { kind: "key", value: sessionKey };
}

function keepKey(key, expiresAt, name) {
  sessionStorage.setItem(KEY, JSON.stringify({ key, expiresAt, name: norm(name), shown: name.trim() }));
  showCred();
}

function showCred() {
  const kept = read(KEY);
  $("cred").textContent = sessionStorage.getItem(TOKEN)
    ? "Using your token."
    : kept ? `Using a session key for ${kept.shown} until ${new Date(kept.expiresAt).toLocaleTimeString()}.` : "";
}

async function loadModels() {
  const select = $("model");
  try {
    const auth = await credential($("name").value);
    const resp = await fetch("api/models", { headers: { Authorization: `Bearer ${auth.value}` } });
    if (!resp.ok) throw await failure(resp);
    const list = await resp.json();
    select.replaceChildren(...list.models.map((m) => {
      const o = new Option(`${m.alias} (${m.provider})${m.default ? ", default" : ""}`, m.id);
      o.selected = m.id === list.default;
      return o;
    }));
    showError(null);
  } catch (e) {
    showError(e);
  }
}

// ---- output ----

function showError(e) {
  clearInterval(waitTimer);
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("error").textContent = e ? e.message || String(e) : "";
  $("wait").textContent = "";
  if (!e) return;
  const control = { broadcaster: "name", preferences: "prefs", aimodel: "model" }[e.field];
  if (control) {
    $(control).setAttribute("aria-invalid", "true");
    $(control).focus();
  }
  if (e.status === 401 && sessionStorage.getItem(TOKEN)) $("tokenBox").open = true;
  const secs = Number(e.retryAfter);
  if (e.retryAfter && secs >= 0) {
    const until = Date.now() + secs * 1000;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      $("wait").textContent = left > 0 ? `Retry-After: ${secs} s. You can ask again in ${left} s.` : "You can ask again now.";
      if (left <= 0) clearInterval(waitTimer);
    };
    tick();
    waitTimer = setInterval(tick, 1000);
  }
}

function fact(id, text) {
  $(id).textContent = text;
}

function resetFacts() {
  for (const id of ["f-action", "f-model", "f-fallback", "f-refused", "f-retired", "f-first", "f-id"]) fact(id, "–");
}

// Speaks the first words at once, then in phrases (at a punctuation mark or
// five words), and the rest at the end.
let said = "";
let unsaid = "";
function speak(text, end = false) {
  unsaid += text;
  const phraseDone = /[.,!?;:]["')]?\s*$/.test(unsaid) || unsaid.trim().split(/\s+/).length >= 5;
  if (!end && said && !phraseDone) return;
  const phrase = unsaid.trim();
  said += unsaid;
  unsaid = "";
  if (phrase && voice && !$("mute").checked) voice.speak(new SpeechSynthesisUtterance(phrase));
}

// Server-sent events from a fetch response: {event, data} in order.
async function* events(resp) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let name = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    const lines = buf.split(/\r\n|\r|\n/);
    buf = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) yield { event: name, data: data.join("\n") };
        name = "message";
        data = [];
      } else if (!line.startsWith(":")) {
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") name = val;
        else if (field === "data") data.push(val);
      }
    }
  }
}

function finish(answer) {
  const words = $("words");
  // A wait is silent: shown as quiet, nothing spoken.
  const shown = answer.content || "(quiet: nothing to say now)";
  if (words.textContent !== shown) words.textContent = shown;
  words.classList.toggle("quiet", !answer.content);
  // The deltas say a prefix of the content: speak what they held back and the rest.
  if (answer.content.startsWith(said)) {
    unsaid = "";
    speak(answer.content.slice(said.length), true);
  } else speak("", true);
  fact("f-action", answer.action);
  fact("f-model", answer.model);
  fact("f-fallback", answer.fallback ? "yes" : "no");
  // Why the rules coach answered: the judge's verdict on each of the model's lines (docs/api.md).
  const failed = answer.model === "rules" && answer.fallback ? "none: the model did not answer (the log says why)" : "none";
  fact("f-refused", answer.refused ? answer.refused.join("; ") : failed);
  fact("f-retired", answer.retired_model || "none");
  if (answer.sessionKey) keepKey(answer.sessionKey, answer.expiresAt, $("name").value);
  $("status").textContent = answer.content ? `Suggestion (${answer.action}): ${answer.content}` : "The coach stays quiet.";
  if (answer.action !== "wait" && answer.content) {
    recent = [...recent, answer.content.slice(0, 300)].slice(-10);
    $("recent").replaceChildren(...recent.map((r) => Object.assign(document.createElement("li"), { textContent: r })));
  }
}

async function coach(retried = false) {
  const words = $("words");
  words.replaceChildren();
  words.classList.remove("withdrawn");
  said = unsaid = "";
  voice?.cancel();
  resetFacts();
  showError(null);
  const name = $("name").value;
  let auth;
  try {
    auth = await credential(name);
  } catch (e) {
    showError(e);
    return;
  }
  const body = { broadcaster: name, context: room, preferences: $("prefs").value, recent, stream: true };
  if ($("model").value) body.aimodel = $("model").value;
  body.reason = room.length ? REASON[room[room.length - 1].type] : "inactivity";
  // "Coach me" is asked on purpose: always a line, never paced (the reason still steers it).
  body.pace = false;
  const start = performance.now();
  let resp;
  try {
    resp = await fetch("api/generate-prompt", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", Authorization: `Bearer ${auth.value}` },
      body: JSON.stringify(body),
    });
  } catch (e) {
    showError(new Error(`Could not reach the Worker (${e.message}).`));
    return;
  }
  fact("f-id", resp.headers.get("X-Request-Id") || "–");
  if (!resp.ok) {
    const f = await failure(resp);
    // A session key that has expired, or was issued for another name: get a new one, once.
    if (f.status === 401 && auth.kind === "key" && !retried) {
      sessionStorage.removeItem(KEY);
      return coach(true);
    }
    showError(f);
    return;
  }
  if (!/event-stream/.test(resp.headers.get("Content-Type") || "")) {
    fact("f-first", `${Math.round(performance.now() - start)} ms (whole answer)`);
    finish(await resp.json());
    return;
  }
  let first = true;
  let ended = false;
  try {
    for await (const e of events(resp)) {
      const data = JSON.parse(e.data);
      if (e.event === "delta") {
        if (first) fact("f-first", `${Math.round(performance.now() - start)} ms`);
        first = false;
        words.append(data.text);
        speak(data.text);
      } else if (e.event === "done") {
        ended = true;
        if (first) fact("f-first", "no words");
        finish(data);
      }
    }
    if (!ended) throw new Error("The stream ended without an answer; ask again.");
  } catch (e) {
    voice?.cancel();
    words.classList.add("withdrawn");
    showError(e);
  }
}

// ---- wiring ----

$("add").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const k = kind();
  const who = $("who").value.trim();
  if (!who) return;
  room.push(roomEvent(k, who, k === "tip" ? $("tokens").value : $("msg").value.trim()));
  drawRoom();
  $("who").value = "";
  $("msg").value = "";
  $("who").focus();
});

for (const radio of document.querySelectorAll("input[name=kind]")) {
  radio.addEventListener("change", () => {
    $("msgBox").hidden = kind() !== "chat";
    $("tokBox").hidden = kind() !== "tip";
  });
}

for (const b of document.querySelectorAll("[data-room]")) {
  b.addEventListener("click", () => {
    const plan = ROOMS[b.dataset.room];
    const now = Date.now();
    room = plan.map(([t, who, extra], i) => roomEvent(t, who, extra, new Date(now - (plan.length - 1 - i) * 15_000)));
    drawRoom();
  });
}

$("clear").addEventListener("click", () => {
  room = [];
  drawRoom();
});

$("coach").addEventListener("click", async () => {
  if (busy) return;
  busy = true;
  $("coach").setAttribute("aria-busy", "true");
  try {
    await coach();
  } catch (e) {
    showError(e);
  } finally {
    busy = false;
    $("coach").removeAttribute("aria-busy");
  }
});

$("mute").addEventListener("change", () => {
  if ($("mute").checked) voice?.cancel();
});
if (!voice) {
  $("mute").checked = true;
  $("mute").disabled = true;
}

$("tokenForm").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("token").value.trim();
  if (t) sessionStorage.setItem(TOKEN, t);
  $("token").value = "";
  showCred();
  loadModels();
});

$("forgetToken").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN);
  showCred();
});

$("name").addEventListener("change", showCred);

drawRoom();
showCred();
loadModels();

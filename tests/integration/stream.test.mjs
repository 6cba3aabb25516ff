// Streaming suggestions over server-sent events, end to end in workerd: the
// simulated binding streams as Workers AI does, and the test reads the
// response body as a browser would, event by event. A stream speaks only
// what stands as the whole answer: the model is read to its end and judged
// before anything is sent, so the line comes as one delta, then done.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { EXAMPLE, ORIGIN, expectError as error, startWorker, step } from "./harness.mjs";

const DEFAULT = "@cf/meta/llama-3.1-8b-instruct-fast";
const BACKUP = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
const BODY = { ...EXAMPLE, aimodel: undefined, stream: true };

/**
 * Reads an event stream. `onEvent(event, index)` runs as each event arrives
 * (before the next bytes are read); returns every event with parsed data.
 */
async function readEvents(resp, onEvent = () => {}) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  const events = [];
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event.event = line.slice(7);
        if (line.startsWith("data: ")) event.data += line.slice(6);
      }
      event.data = JSON.parse(event.data);
      events.push(event);
      await onEvent(event, events.length - 1);
    }
  }
  assert.equal(buffer, "", "the stream ends on an event boundary");
  return events;
}

function expectStream(resp) {
  assert.equal(resp.status, 200);
  assert.match(resp.headers.get("content-type"), /^text\/event-stream/);
  assert.equal(resp.headers.get("cache-control"), "no-cache");
}

const deltas = (events) => events.filter((e) => e.event === "delta").map((e) => e.data.text);

describe("streamed suggestions", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.dispose());
  beforeEach(() => w.sim.reset());

  test('"stream": true gives the whole line in one delta and a final done that says it', async () => {
    w.sim.script(DEFAULT, step.answer("Thank you User456 for the 50 tokens, you are amazing!"));
    const resp = await w.post("/api/generate-prompt", BODY, { Origin: ORIGIN });
    expectStream(resp);
    assert.equal(resp.headers.get("access-control-allow-origin"), ORIGIN, "CORS applies");
    const events = await readEvents(resp);
    const done = events.at(-1);
    assert.equal(done.event, "done");
    assert.deepEqual(
      { action: done.data.action, content: done.data.content, model: done.data.model, fallback: done.data.fallback },
      { action: "say", content: "Thank you User456 for the 50 tokens, you are amazing!", model: DEFAULT, fallback: false },
    );
    assert.deepEqual(deltas(events), [done.data.content], JSON.stringify(events));
    assert.equal(events.filter((e) => e.event === "done").length, 1);
    const { input } = w.sim.calls[0];
    assert.equal(input.stream, true);
    assert.equal(input.response_format, undefined, "JSON mode does not stream");
    assert.doesNotMatch(input.messages[0].content, /JSON/);
  });

  test("Accept: text/event-stream streams too; without either nothing changes", async () => {
    w.sim.script(DEFAULT, step.answer("Say hi to User123 and welcome everyone"));
    const { stream, ...plain } = BODY;
    const resp = await w.post("/api/generate-prompt", plain, { Accept: "text/event-stream" });
    expectStream(resp);
    assert.equal((await readEvents(resp)).at(-1).event, "done");
    const json = await w.post("/api/generate-prompt", plain);
    assert.match(json.headers.get("content-type"), /application\/json/);
    assert.equal(w.sim.calls.at(-1).input.stream, undefined);
  });

  test("nothing is sent before the model has finished: a later word could still refuse the line", async () => {
    // The model sends four words, then waits until the gate opens.
    w.sim.script(
      DEFAULT,
      step.tokens(["Thank", " you", " User456", " for", " the", " tokens!"], { gateAfter: 4 }),
    );
    let gateOpen = false;
    const gate = setTimeout(() => {
      gateOpen = true;
      w.sim.openGate();
    }, 500);
    // The stream opens with its answer: not before the model has said it all.
    const resp = await w.post("/api/generate-prompt", BODY);
    assert.ok(gateOpen, "the stream opened while the model was still held");
    expectStream(resp);
    const events = await readEvents(resp);
    clearTimeout(gate);
    assert.deepEqual(events.map((e) => e.event), ["delta", "done"]);
    assert.equal(events.at(-1).data.content, "Thank you User456 for the tokens!");
  });

  test("a line split across chunks, CRLF ends and keep-alive comments", async () => {
    w.sim.script(
      DEFAULT,
      step.sse([
        ": keep-alive\r\n\r\ndata: {\"respo",
        'nse":"Thanks User456"}\r',
        '\n\r\ndata: {"response":" for the"}\n\ndata: {"response":" fifty tokens!"}\n\ndata: [DONE]\n\n',
      ]),
    );
    const events = await readEvents(await w.post("/api/generate-prompt", BODY));
    assert.equal(events.at(-1).data.content, "Thanks User456 for the fifty tokens!");
    assert.equal(deltas(events).join(""), "Thanks User456 for the fifty tokens!");
  });

  test("characters split between chunks at the byte level arrive whole", async () => {
    const text = "Merci User456, caf\u00e9 et no\u00ebl time \u{20BB7} tonight!";
    const bytes = [...new TextEncoder().encode(`data: ${JSON.stringify({ response: text })}\n\ndata: [DONE]\n\n`)];
    // Cut inside the two bytes of each accented letter and the four of the last character.
    const at = (b) => bytes.findIndex((x, i) => x === b && i > 10) + 1;
    const cuts = [at(0xc3), bytes.indexOf(0xab) , bytes.indexOf(0xf0) + 2].sort((a, b) => a - b);
    const chunks = [bytes.slice(0, cuts[0]), bytes.slice(cuts[0], cuts[1]), bytes.slice(cuts[1], cuts[2]), bytes.slice(cuts[2])];
    w.sim.script(DEFAULT, step.sse(chunks));
    const events = await readEvents(await w.post("/api/generate-prompt", BODY));
    const content = events.at(-1).data.content;
    assert.match(content, /caf\u00e9 et no\u00ebl/);
    assert.doesNotMatch(content, /\ufffd/);
    assert.equal(deltas(events).join(""), content);
  });

  test("a stream that breaks sends nothing of it: the fallback answers, and no upstream text", async () => {
    w.sim.script(
      DEFAULT,
      step.tokens(["Thank you User456", " for the", " tokens"], {
        chunks: ['data: {"response":"Thank you User456 for"}\n\n', 'data: {"response":" the"}\n\n'],
        end: "error",
        errorMessage: "3040: Capacity temporarily exceeded SECRET-UPSTREAM",
      }),
    );
    w.sim.script(BACKUP, step.answer("Welcome User123 and thank User456 for the tip"));
    const resp = await w.post("/api/generate-prompt", BODY);
    const raw = await resp.clone().text();
    assert.doesNotMatch(raw, /SECRET-UPSTREAM|3040/);
    const events = await readEvents(resp);
    assert.deepEqual(events.map((e) => e.event), ["delta", "done"]);
    assert.doesNotMatch(deltas(events).join(""), /Thank you User456 for the/);
    assert.equal(events.at(-1).data.fallback, true);
  });

  test("a stream that stalls is cut off at the model's timeout and stops reading the model", async () => {
    w.sim.script(
      DEFAULT,
      step.sse(['data: {"response":"Thank you User456 for"}\n\n', 'data: {"response":" the"}\n\n'], { end: "stall" }),
    );
    const events = await readEvents(await w.post("/api/generate-prompt", BODY));
    assert.deepEqual(events.map((e) => e.event), ["delta", "done"]);
    assert.doesNotMatch(deltas(events).join(""), /Thank you User456 for the/);
    // The cancel reaches the stand-in over its own subrequest: give it a moment.
    for (let i = 0; i < 50 && w.sim.cancelled === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(w.sim.cancelled >= 1, "the upstream stream was cancelled");
    assert.match(w.logs.join(""), /"model_failures":\[\{[^\]]*"kind":"timeout"/, "the operator's log says why");
  });

  test("a model that refuses before streaming is answered by the fallback in the same stream", async () => {
    w.sim.script(DEFAULT, step.error("5007: No such model or task"));
    w.sim.script(BACKUP, step.answer("Welcome User123 and thank User456 for the tip"));
    const events = await readEvents(await w.post("/api/generate-prompt", BODY));
    const done = events.at(-1).data;
    assert.deepEqual([done.model, done.fallback], [BACKUP, true]);
    assert.equal(deltas(events).join(""), done.content);
    assert.deepEqual(w.sim.calls.map((c) => c.model), [DEFAULT, BACKUP]);
    assert.equal(w.sim.calls[1].input.stream, true);
    assert.equal(w.sim.calls[1].input.response_format, undefined, "no JSON mode when streaming, even where it exists");
  });

  test("the rules coach after refused lines says why in done", async () => {
    w.sim.script("*", step.answer("I'm sorry, but I can't help with that request."));
    const events = await readEvents(await w.post("/api/generate-prompt", BODY));
    assert.deepEqual(events.map((e) => e.event), ["delta", "done"]);
    const done = events[1].data;
    assert.deepEqual([done.model, done.refused], ["rules", ["refusal or meta-talk", "refusal or meta-talk"]]);
  });

  test("failures before the first byte are plain JSON errors", async () => {
    await error(await w.post("/api/generate-prompt", BODY, { Authorization: "Bearer wrong-token-xxxxxxxx" }), 401, "unauthorized");
    await error(await w.post("/api/generate-prompt", { ...BODY, stream: "yes" }), 400, "invalid_request");
    await error(
      await w.post("/api/generate-prompt", { ...BODY, broadcaster: "" }, { Accept: "text/event-stream" }),
      400,
      "invalid_request",
    );
  });
});

describe("streamed suggestions without a model", () => {
  test("every model refusing with the rules fallback off is a 503 JSON error, not a stream", async () => {
    const w = await startWorker({ vars: { RULES_FALLBACK: "false" } });
    try {
      w.sim.script("*", step.error("5007: No such model or task"));
      await error(await w.post("/api/generate-prompt", BODY), 503, "model_unavailable");
    } finally {
      await w.dispose();
    }
  });

  test("the rules coach streams its answer as one delta and done", async () => {
    const w = await startWorker({ ai: false });
    try {
      const resp = await w.post("/api/generate-prompt", BODY);
      expectStream(resp);
      const events = await readEvents(resp);
      assert.deepEqual(events.map((e) => e.event), ["delta", "done"]);
      assert.equal(events[1].data.model, "rules");
      assert.equal(events[0].data.text, events[1].data.content);
    } finally {
      await w.dispose();
    }
  });
});

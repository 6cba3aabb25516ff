// Checks real responses of the Worker against the checked-in OpenAPI 3.1
// document (src/openapi.json), with @hyperjump/json-schema's OpenAPI 3.1
// dialect: the status must be documented for the route and method, the
// media type too, the body must match its schema, and every documented
// header must be present when required and match its schema when present.
// An event stream's `schema` describes each event (`{event, data}`, as
// OpenAPI 3.2's `itemSchema` does and as Schemathesis reads it): each event
// must match it, and its data the `contentSchema` of its event name's branch
// (a JSON Schema validator leaves `contentSchema` to the application).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { validate } from "@hyperjump/json-schema/openapi-3-1";
import { BASIC } from "@hyperjump/json-schema/experimental";

export const DOC_URL = new URL("../../src/openapi.json", import.meta.url);
export const DOC = JSON.parse(readFileSync(DOC_URL, "utf8"));

const pointer = (path) =>
  path.map((p) => encodeURIComponent(String(p).replaceAll("~", "~0").replaceAll("/", "~1"))).join("/");

/** Follows a local `$ref` to its target and its JSON pointer. */
function deref(node, at) {
  while (node?.$ref) {
    at = node.$ref.slice(2).split("/").map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
    node = at.reduce((n, k) => n[k], DOC);
  }
  return { node, at };
}

/** Validates `value` against the schema at `at` (a path into the document). */
export async function conforms(at, value, what) {
  const output = await validate(`${DOC_URL.href}#/${pointer(at)}`, value, BASIC);
  assert.ok(output.valid, `${what} does not match ${pointer(at)}: ${JSON.stringify(value)}\n${JSON.stringify(output.errors, null, 1)}`);
}

/** Splits an event stream into `{event, data, raw}`: data parsed, raw as sent. */
export function parseEvents(text) {
  return text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((block) => {
      const event = { event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event.event = line.slice(7);
        if (line.startsWith("data: ")) event.data += line.slice(6);
      }
      return { event: event.event, data: JSON.parse(event.data), raw: event.data };
    });
}

/** Asserts that `resp`, to a path no route has, is the documented 404. */
export async function checkNotFound(resp) {
  assert.equal(resp.status, 404);
  assert.ok(resp.headers.get("x-request-id"));
  const body = await resp.json();
  await conforms(["components", "responses", "NotFound", "content", "application/json", "schema"], body, "404 body");
  return body;
}

/**
 * Asserts that `resp` (to `method` on the documented `route`) is what the
 * document says; returns the parsed body (events for a stream).
 */
export async function checkResponse(method, route, resp) {
  const status = String(resp.status);
  const where = `${method} ${route} ${status}`;
  assert.ok(DOC.paths[route], `${route} is not in the document`);
  const op = DOC.paths[route][method.toLowerCase()];
  // A method a route does not take, and a path no route has, are answered
  // as the shared responses say.
  const shared = { 405: "MethodNotAllowed", 404: "NotFound" }[status];
  if (!op) assert.equal(status, "405", `${method} ${route} is not in the document`);
  const documented = op ? op.responses[status] : { $ref: `#/components/responses/${shared}` };
  assert.ok(documented, `${where} is not documented (documented: ${Object.keys(op?.responses ?? {})})`);
  const { node: response, at } = deref(documented, ["paths", route, method.toLowerCase(), "responses", status]);
  for (const [name, spec] of Object.entries(response.headers ?? {})) {
    const { node: header, at: hat } = deref(spec, [...at, "headers", name]);
    const value = resp.headers.get(name);
    if (header.required) assert.ok(value !== null, `${where}: required header ${name} is missing`);
    if (value !== null) await conforms([...hat, "schema"], value, `${where} header ${name}`);
  }
  const text = await resp.text();
  if (!response.content) {
    assert.equal(text, "", `${where}: an undocumented body`);
    return null;
  }
  const type = (resp.headers.get("content-type") ?? "").split(";")[0].trim();
  const media = response.content[type];
  assert.ok(media, `${where}: content type ${type} is not documented (documented: ${Object.keys(response.content)})`);
  const mediaAt = [...at, "content", type];
  if (type === "text/event-stream") {
    const events = parseEvents(text);
    const branches = media.schema.oneOf;
    for (const e of events) {
      await conforms([...mediaAt, "schema"], { event: e.event, data: e.raw }, `${where} event ${e.event}`);
      const i = branches.findIndex((b) => b.properties.event.const === e.event);
      assert.ok(i >= 0, `${where}: undocumented event ${e.event}`);
      const data = [...mediaAt, "schema", "oneOf", i, "properties", "data", "contentSchema"];
      await conforms(data, e.data, `${where} event ${e.event} data`);
    }
    return events.map(({ event, data }) => ({ event, data }));
  }
  const body = JSON.parse(text);
  await conforms([...mediaAt, "schema"], body, `${where} body`);
  return body;
}

// scripts/models-check, offline: a saved `wrangler ai models list --json` listing
// (tests/fixtures) against the checked-in catalog.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { drift } from "../../scripts/models-check.mjs";

const catalog = JSON.parse(readFileSync(new URL("../../src/core/llm/catalog.json", import.meta.url), "utf8"));
const fixture = new URL("../fixtures/wrangler-ai-models.json", import.meta.url);
const listing = JSON.parse(readFileSync(fixture, "utf8"));

test("drift names new, retiring, resized and vanished text-generation models", () => {
  const lines = drift(catalog, listing);
  assert.ok(lines.includes("new: @cf/example/brand-new-chat (context window 32768)"), lines.join("\n"));
  assert.ok(!lines.some((l) => l.includes("brand-new-embedder")), "only text generation");
  assert.ok(lines.includes("retirement: @cf/meta/llama-3.3-70b-instruct-fp8-fast now 2027-01-31 (catalog: none)"));
  assert.ok(lines.includes("context window: @cf/mistralai/mistral-small-3.1-24b-instruct now 64000 (catalog: 128000)"));
  assert.ok(lines.some((l) => l.startsWith("no longer listed: @cf/meta/llama-4-scout-17b-16e-instruct")));
  assert.ok(!lines.some((l) => l.includes("@hf/mistral/mistral-7b-instruct-v0.2")), "retired models are expected to vanish");
});

test("an identical listing is no drift", () => {
  const same = catalog.models.map((m) => ({
    name: m.id,
    task: { name: "Text Generation" },
    properties: [
      ...(m.context_window ? [{ property_id: "context_window", value: String(m.context_window) }] : []),
      ...(m.retires_on ? [{ property_id: "planned_deprecation_date", value: m.retires_on }] : []),
    ],
  }));
  assert.deepEqual(drift(catalog, same), []);
});

test("the command prints the drift and exits 1; 2 when it cannot read a listing", () => {
  const run = (args) => spawnSync("node", ["scripts/models-check.mjs", ...args], { encoding: "utf8" });
  const found = run(["--from", fixture.pathname]);
  assert.equal(found.status, 1, found.stderr);
  assert.match(found.stdout, /new: @cf\/example\/brand-new-chat/);
  assert.match(found.stdout, /JSON mode is not in this listing/);
  assert.equal(run(["--from", "/nonexistent.json"]).status, 2);
});

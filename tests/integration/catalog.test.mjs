// src/core/llm/catalog.json is generated from the published data in data/ by
// scripts/catalog, never edited by hand.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test("the checked-in catalog is what scripts/catalog builds from data/", () => {
  const built = spawnSync("node", ["scripts/catalog.mjs", "--stdout"], { encoding: "utf8" });
  assert.equal(built.status, 0, built.stderr);
  const checkedIn = readFileSync(new URL("../../src/core/llm/catalog.json", import.meta.url), "utf8");
  assert.equal(built.stdout, checkedIn, "run scripts/catalog and commit src/core/llm/catalog.json");
});

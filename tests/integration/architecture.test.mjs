// The house's plan, checked: docs/architecture.md names every module of src/,
// and the concerns of src/core/ (its folders and shared files) depend on each
// other in one direction only. Reads the sources; runs no Worker.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

const ROOT = new URL("../../", import.meta.url).pathname;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".rs") ? [path] : [];
  });
}

const MODULES = files(join(ROOT, "src")).map((p) => relative(ROOT, p));

test("docs/architecture.md names every module in src/", () => {
  const doc = readFileSync(join(ROOT, "docs/architecture.md"), "utf8");
  const missing = MODULES.filter((m) => !doc.includes(`\`${m}\``));
  assert.deepEqual(missing, [], "add a line for each to docs/architecture.md");
});

/** The concern a file of src/core belongs to: its folder, or the shared file itself. */
function concern(path) {
  const parts = relative(join(ROOT, "src/core"), path).replace(/\.rs$/, "").split("/");
  return parts[0];
}

/** Concern -> the concerns its non-test code names through `crate::core::`. */
function dependencies() {
  const graph = new Map();
  for (const path of files(join(ROOT, "src/core"))) {
    const from = concern(path);
    if (from === "mod") continue;
    const code = readFileSync(path, "utf8")
      .split("#[cfg(test)]")[0]
      .split("\n")
      .filter((line) => !line.trim().startsWith("//"))
      .join("\n");
    const uses = graph.get(from) ?? new Set();
    for (const [, to] of code.matchAll(/crate::core::([a-z_]+)/g)) if (to !== from) uses.add(to);
    graph.set(from, uses);
  }
  return graph;
}

function cycle(graph) {
  const state = new Map();
  const stack = [];
  const visit = (node) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, "done");
    return null;
  };
  for (const node of graph.keys()) if (!state.has(node)) {
    const found = visit(node);
    if (found) return found;
  }
  return null;
}

test("the concerns of src/core have no import cycle", () => {
  const graph = dependencies();
  assert.ok(graph.size >= 10, `expected the core's concerns, found ${[...graph.keys()]}`);
  assert.equal(cycle(graph)?.join(" -> ") ?? null, null);
});

test("the cycle check finds a cycle when there is one", () => {
  const graph = new Map([["a", new Set(["b"])], ["b", new Set(["c"])], ["c", new Set(["a"])]]);
  assert.deepEqual(cycle(graph), ["a", "b", "c", "a"]);
});

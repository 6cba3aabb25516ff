// The contract fuzzer nobody here wrote: Schemathesis (PyPI; ./scripts/setup
// installs the pinned version into .venv) reads the OpenAPI document the
// built Worker serves at GET /openapi.json and throws requests at every
// operation: the document's examples, the boundaries of every range and
// pattern (coverage), random valid and invalid bodies, headers and methods
// (fuzzing), and call sequences (stateful). Every check it has runs (see
// schemathesis.toml for why each is meaningful here). It must find nothing.
//
// The Worker runs in workerd through Miniflare on a local port, with the
// simulated AI binding, real KV, session keys open and limits high enough that
// a rate limit never answers instead of the route under test.
//
// SCHEMATHESIS_MAX_EXAMPLES (examples per operation and phase; default 250,
// about 6,000 requests in a minute or so on 2 cores) and SCHEMATHESIS_SEED (a
// fixed default, so a run can be repeated; `random` for a new one) tune it.
// schemathesis_hooks.py works around a CPython 3.11 bug in Hypothesis's
// reprs; it changes nothing that is generated or checked.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { BASE_VARS, STATE_VARS, TOKEN, startWorker } from "./harness.mjs";

const BIN = fileURLToPath(new URL("../../.venv/bin/schemathesis", import.meta.url));
const CONFIG = fileURLToPath(new URL("schemathesis.toml", import.meta.url));
const HOOKS = fileURLToPath(new URL("schemathesis_hooks.py", import.meta.url));
const EXAMPLES = process.env.SCHEMATHESIS_MAX_EXAMPLES ?? "250";
const SEED = process.env.SCHEMATHESIS_SEED ?? "1604";

/** Runs `cmd`, returns its exit code and everything it printed. */
function run(cmd, args, env, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

test("Schemathesis finds no failure in the running Worker", { timeout: 15 * 60_000 }, async (t) => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run ./scripts/setup`);
  const w = await startWorker({
    vars: {
      // As wrangler.toml ships it: callers in state objects (and /admin/usage answering).
      ...STATE_VARS,
      DAILY_NEURON_BUDGET: "off",
      SESSION_KEYS: "open",
      SESSION_SECRET: "schemathesis-session-secret-0123456789",
      RATE_LIMIT_PER_MINUTE: "1000000",
      RATE_LIMIT_PER_DAY: "1000000",
    },
    ratelimits: {
      AUTH_FAILURE_LIMITER: { simple: { limit: 1_000_000, period: 60 } },
      SESSION_KEY_LIMITER: { simple: { limit: 1_000_000, period: 60 } },
    },
  });
  // Schemathesis runs in a scratch folder: nothing it writes lands in the tree.
  const scratch = mkdtempSync(join(tmpdir(), "schemathesis-"));
  try {
    const url = await w.mf.ready;
    const args = [
      "--config-file",
      CONFIG,
      "run",
      new URL("/openapi.json", url).href,
      "--checks",
      "all",
      "--max-examples",
      EXAMPLES,
      "--workers",
      "2",
      "--no-color",
      ...(SEED === "random" ? [] : ["--seed", SEED]),
    ];
    const started = Date.now();
    const { code, out } = await run(BIN, args, {
      COACH_TEST_TOKEN: TOKEN,
      COACH_ADMIN_TOKEN: BASE_VARS.ADMIN_TOKEN,
      SCHEMATHESIS_HOOKS: HOOKS,
    }, scratch);
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    const at = out.lastIndexOf("SUMMARY");
    const summary = at < 0 ? out : out.slice(at);
    t.diagnostic(`schemathesis ${args.join(" ")}: exit ${code} after ${secs} s`);
    for (const line of summary.split("\n").filter((l) => l.trim())) t.diagnostic(line);
    assert.equal(code, 0, `Schemathesis exited ${code}; its output:\n${out.slice(-20_000)}`);
    assert.match(summary, /No issues found/, out.slice(-20_000));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await w.dispose();
  }
});

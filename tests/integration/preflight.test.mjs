// The deploy's preflight (scripts/preflight.mjs), run on copies of the
// shipped wrangler.toml laid out as docs/operations.md "Deploy: the checklist"
// lays out a clone: the copy in a folder of its own, the coach frontend in
// ../coach-frontend/static beside it. Each misconfiguration is refused with
// the sentence that names its fix; the shipped configuration, once the
// checklist's steps are done, is accepted. Then `./scripts/deploy --dry-run`
// on a copy of this repository where the test tools were never installed: it
// installs none of them and needs none.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { check, declaredClasses, parseToml, readArgs } from "../../scripts/preflight.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SHIPPED = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
const PREFLIGHT = join(ROOT, "scripts/preflight.mjs");

/** A real-looking KV namespace id (32 hex digits), as `wrangler kv namespace create` prints one. */
const KV_ID = "3f1c9a0b7d224e6f8a5b1c2d3e4f5a6b";
const SECRET = "7f3a9c2e5b8d1f4a6c0e9b2d7a5f3c1e8b6d4a2f0c9e7b5d3a1f8c6e4b2d0a9f";
const PRICED = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

/** `toml` with the var `name` set to `value` (the line itself, not a comment naming it). */
function setVar(toml, name, value) {
  const line = new RegExp(`^${name} = .*$`, "m");
  assert.match(toml, line);
  return toml.replace(line, `${name} = "${value}"`);
}

/** wrangler.toml after the checklist's steps 3 (KV id), 5 (the frontend) and 6 (a priced model). */
function configured(toml = SHIPPED) {
  return toml
    .replace('id = "00000000000000000000000000000000"', `id = "${KV_ID}"`)
    .replace('directory = "./public"', 'directory = "../coach-frontend/static"')
    .replace(/^DEFAULT_MODEL = .*$/m, `DEFAULT_MODEL = "${PRICED}"`);
}

const made = [];
after(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/**
 * A clone's layout in a temp folder: `clone/wrangler.toml` holding `toml`
 * beside the clone's own `public/`, and (unless `frontend` is false)
 * `coach-frontend/static/index.html` beside the clone. A `.dev.vars` with a session secret sits beside the copy, as
 * `./scripts/setup` leaves one: the preflight must not count it.
 */
function layout(toml, { frontend = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "coach-preflight-"));
  made.push(dir);
  mkdirSync(join(dir, "clone/public"), { recursive: true });
  writeFileSync(join(dir, "clone/wrangler.toml"), toml);
  writeFileSync(join(dir, "clone/.dev.vars"), `SESSION_SECRET=${SECRET}\n`);
  if (frontend) {
    mkdirSync(join(dir, "coach-frontend/static"), { recursive: true });
    writeFileSync(join(dir, "coach-frontend/static/index.html"), "<!doctype html>");
  }
  return join(dir, "clone/wrangler.toml");
}

/** The refusals for `toml` (a dry run with SESSION_SECRET in the environment, unless `environ` says otherwise). */
function refusals(toml, { environ = { SESSION_SECRET: SECRET }, dryRun = true, frontend, listSecrets } = {}) {
  return check({ configPath: layout(toml, { frontend }), dryRun, environ, listSecrets });
}

/** Asserts exactly one refusal, matching `pattern`. */
function refusedOnce(found, pattern) {
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0], pattern);
}

describe("the preflight reads wrangler.toml as wrangler does", () => {
  test("the shipped file: the same bindings, vars, assets and migrations as wrangler's own reader", async (t) => {
    const wrangler = await import("wrangler").catch(() => null);
    if (typeof wrangler?.unstable_readConfig !== "function") {
      t.skip("this wrangler exports no unstable_readConfig to compare with");
      return;
    }
    const theirs = wrangler.unstable_readConfig({ config: join(ROOT, "wrangler.toml") }, { hideWarnings: true });
    const ours = parseToml(SHIPPED);
    // Compared as data: wrangler 4.168 builds [vars] as an object without a prototype.
    const data = (value) => JSON.parse(JSON.stringify(value));
    assert.deepEqual(ours.vars, data(theirs.vars));
    assert.deepEqual(ours.kv_namespaces, data(theirs.kv_namespaces));
    assert.deepEqual(ours.durable_objects.bindings, data(theirs.durable_objects.bindings));
    assert.deepEqual(ours.migrations, data(theirs.migrations));
    assert.equal(ours.assets.directory, theirs.assets.directory);
    assert.deepEqual(ours.ratelimits, data(theirs.ratelimits));
  });

  test("what the TOML reader accepts, and what it refuses by line", () => {
    const toml = parseToml(
      ['a = "x\\u00e9\\"y" # note', "b = [", "  1, # one", "  2,", "]", "[t.u]", "v = { w = 1, x.y = 'z' }", "[[m]]", "c = true", "[[m]]", "c = false"].join("\n"),
    );
    assert.deepEqual(toml, { a: 'x\u00e9"y', b: [1, 2], t: { u: { v: { w: 1, x: { y: "z" } } } }, m: [{ c: true }, { c: false }] });
    assert.throws(() => parseToml('a = """\nlong\n"""'), /line 1: multi-line strings/);
    assert.throws(() => parseToml("a = 1\na = 2"), /line 2: a is set twice/);
    assert.throws(() => parseToml("a = 1979-05-27"), /line 1: a value the preflight does not read/);
  });

  test("the arguments of wrangler deploy it reads", () => {
    assert.deepEqual(readArgs(["--dry-run", "--outdir", "x", "--config=c.toml", "-e", "prod"]), { config: "c.toml", env: "prod", dryRun: true });
    assert.deepEqual(readArgs([]), { config: "wrangler.toml", env: undefined, dryRun: false });
  });
});

describe("the preflight refuses, with the sentence that names the fix", () => {
  test("the shipped configuration as it is: the KV placeholder, no visible secret", () => {
    const found = refusals(SHIPPED, { environ: {} });
    assert.equal(found.length, 2, found.join("\n"));
    assert.match(found[0], /COACH_KV's id in .* is the placeholder 0{32}: create the namespace with npx wrangler kv namespace create COACH_KV and put the id it prints/);
    assert.match(found[1], /SESSION_SECRET/);
  });

  test("the KV id: the placeholder, an id that is not one, no COACH_KV at all", () => {
    refusedOnce(refusals(configured().replace(KV_ID, "0".repeat(32))), /is the placeholder 0{32}: create the namespace with npx wrangler kv namespace create COACH_KV/);
    refusedOnce(refusals(configured().replace(KV_ID, "my-namespace")), /is not a KV namespace id \(32 hex digits\)/);
    refusedOnce(refusals(configured().replace('binding = "COACH_KV"', 'binding = "OTHER_KV"')), /binds no COACH_KV namespace/);
  });

  test("an assets directory that does not exist", () => {
    refusedOnce(
      refusals(configured(), { frontend: false }),
      /\[assets\] directory "\.\.\/coach-frontend\/static" in .* does not exist \(.*coach-frontend\/static\): copy the coach frontend's static\/ folder there/,
    );
  });

  test("session keys open and no SESSION_SECRET where a dry run can see it (.dev.vars does not count)", () => {
    const found = refusals(configured(), { environ: {} });
    refusedOnce(found, /SESSION_KEYS is "open" but the preflight sees no SESSION_SECRET\. A dry run has no login, so it sees only the environment variable SESSION_SECRET/);
    assert.match(found[0], /not \.dev\.vars \(local only; wrangler never uploads it\)/);
    assert.match(found[0], /export SESSION_SECRET=\$\(openssl rand -hex 32\) and printf %s "\$SESSION_SECRET" \| npx wrangler secret put SESSION_SECRET, then run again in that shell/);
    assert.match(found[0], /or set SESSION_KEYS = "off"/);
  });

  test("a SESSION_SECRET shorter than the Worker takes", () => {
    refusedOnce(refusals(configured(), { environ: { SESSION_SECRET: "fifteen-chars!!" } }), /SESSION_SECRET in the environment has 15 characters; the Worker needs at least 32/);
  });

  test("the example SESSION_SECRET of .dev.vars.example, and LOCAL_DEV in [vars]", () => {
    const example = readFileSync(join(ROOT, ".dev.vars.example"), "utf8").match(/^SESSION_SECRET=(.*)$/m)[1];
    refusedOnce(refusals(configured(), { environ: { SESSION_SECRET: example } }), /SESSION_SECRET in the environment is the example value of \.dev\.vars\.example.*the deployed Worker refuses it/);
    refusedOnce(refusals(configured().replace("[vars]\n", '[vars]\nLOCAL_DEV = "true"\n')), /LOCAL_DEV is set in \[vars\] of .*: it makes the Worker accept the example secrets.*Remove it\./);
  });

  test("a real deploy: the Worker's secrets, as wrangler secret list names them", () => {
    const deploy = (listed, environ = {}) => refusals(configured(), { dryRun: false, environ, listSecrets: () => listed });
    refusedOnce(deploy({ names: ["ADMIN_TOKEN"] }), /the Worker's secrets \(wrangler secret list\) have no SESSION_SECRET/);
    refusedOnce(deploy({ error: "Not logged in." }), /the Worker's secrets could not be listed \(Not logged in\.\).*npx wrangler login/);
    assert.deepEqual(deploy({ names: ["ADMIN_TOKEN", "SESSION_SECRET"] }), []);
    assert.deepEqual(deploy({ error: "Not logged in." }, { SESSION_SECRET: SECRET }), [], "the environment variable, when the list cannot be had");
    refusedOnce(deploy({ names: [] }, { SESSION_SECRET: SECRET }), /have no SESSION_SECRET/, "the list, when it can be had");
  });

  test("every default model is counted by the budget (published, MODEL_PRICES or assumed); a MODEL_PRICES that does not read is refused", () => {
    const withModel = (model) => configured().replace(`DEFAULT_MODEL = "${PRICED}"`, model === undefined ? "" : `DEFAULT_MODEL = "${model}"`);
    for (const model of ["@cf/meta/llama-3.1-8b-instruct-fast", "llama-3.2-3b", undefined, "openai:local", "qwen3-30b"]) {
      assert.deepEqual(refusals(withModel(model)), [], `${model}: counted at a price`);
    }
    const bad = setVar(configured(), "MODEL_PRICES", "@cf/meta/llama-3.1-8b-instruct-fast=free");
    refusedOnce(refusals(bad), /MODEL_PRICES has "@cf\/meta\/llama-3\.1-8b-instruct-fast=free", which is not model=input\/output/);
  });

  test("migrations that do not declare the Durable Object class, and no CALLER_STATE binding", () => {
    const noMigrations = configured().replace(/\[\[migrations\]\]\ntag = "v1"\nnew_sqlite_classes = \["CallerState"\]\n/, "");
    assert.notEqual(noMigrations, configured());
    refusedOnce(refusals(noMigrations), /The Durable Object class CallerState \(binding CALLER_STATE\) is not declared by the \[\[migrations\]\] in .*: add one with new_sqlite_classes = \["CallerState"\]/);
    const deleted = configured().replace('new_sqlite_classes = ["CallerState"]\n', 'new_sqlite_classes = ["CallerState"]\n\n[[migrations]]\ntag = "v2"\ndeleted_classes = ["CallerState"]\n');
    refusedOnce(refusals(deleted), /class CallerState .* is not declared/);
    const unbound = configured().replace(/\[\[durable_objects\.bindings\]\]\nname = "CALLER_STATE"\nclass_name = "CallerState"\n/, "");
    assert.notEqual(unbound, configured());
    refusedOnce(refusals(unbound), /binds no CALLER_STATE Durable Object, but RATE_LIMIT_STORE = "do" counts callers in it/);
    assert.deepEqual(refusals(setVar(unbound, "RATE_LIMIT_STORE", "kv")), [], "the KV store needs no object");
    assert.deepEqual([...declaredClasses([{ new_classes: ["A"] }, { renamed_classes: [{ from: "A", to: "B" }] }])], ["B"]);
  });
});

describe("the preflight accepts", () => {
  test("the shipped configuration once the checklist's steps are done", () => {
    assert.deepEqual(refusals(configured()), []);
  });

  test("session keys off, with no secret anywhere", () => {
    assert.deepEqual(refusals(setVar(configured(), "SESSION_KEYS", "off"), { environ: {} }), []);
  });

  test("from the command line: exit 1 and one line per refusal; exit 0 and what it checked", () => {
    const env = { ...process.env, SESSION_SECRET: "" };
    const refused = spawnSync(process.execPath, [PREFLIGHT, "--dry-run", "--config", layout(SHIPPED)], { encoding: "utf8", env });
    assert.equal(refused.status, 1, refused.stderr);
    assert.equal(refused.stderr.match(/^\[preflight\] refused: /gm)?.length, 2, refused.stderr);
    assert.match(refused.stderr, /nothing was built or uploaded; the checklist is docs\/operations\.md "Deploy: the checklist"/);
    const ok = spawnSync(process.execPath, [PREFLIGHT, "--dry-run", "--outdir", "x", "--config", layout(configured())], {
      encoding: "utf8",
      env: { ...env, SESSION_SECRET: SECRET },
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /checks out: the KV id, the assets directory, SESSION_SECRET, the default model's price \(published\), the Durable Object bindings and migrations\./);
    const unreadable = spawnSync(process.execPath, [PREFLIGHT, "--dry-run", "--env", "staging", "--config", layout(configured())], { encoding: "utf8", env });
    assert.equal(unreadable.status, 1);
    assert.match(unreadable.stderr, /could not be read: wrangler\.toml has no \[env\.staging\]/);
  });
});

describe("./scripts/deploy --dry-run", () => {
  test("on a copy of the repository without the test tools: installs none, needs none, and bundles", { timeout: 300_000 }, (t) => {
    // The copy reuses this checkout's build; a stale one would be rebuilt from scratch in the copy.
    assert.ok(existsSync(join(ROOT, "build/.built")), "no build/: run ./scripts/build first (./scripts/test does)");
    const stale = execFileSync("find", ["src", "build.rs", "Cargo.toml", "Cargo.lock", "scripts/build", "-newer", "build/.built", "-print", "-quit"], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    assert.equal(stale, "", `build/ is older than ${stale}: run ./scripts/build first (./scripts/test does)`);
    const dir = mkdtempSync(join(tmpdir(), "coach-deploy-"));
    made.push(dir);
    // The repository's own files (git's list, new ones included) and its build, the npm
    // packages linked; no .venv, no test model, no .dev.vars.
    const repo = join(dir, "repo");
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
      .split("\0")
      .filter(Boolean);
    for (const f of files) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(repo, f), { preserveTimestamps: true });
    cpSync(join(ROOT, "build"), join(repo, "build"), { recursive: true, preserveTimestamps: true });
    // The copy's folders are new, and scripts/build counts them as changes: the build is this checkout's, up to date.
    const now = new Date();
    utimesSync(join(repo, "build/.built"), now, now);
    symlinkSync(join(ROOT, "node_modules"), join(repo, "node_modules"));
    writeFileSync(join(repo, "wrangler.toml"), configured());
    mkdirSync(join(dir, "coach-frontend/static"), { recursive: true });
    writeFileSync(join(dir, "coach-frontend/static/index.html"), "<!doctype html>");
    // What installing a test tool would call, each recording the call and failing.
    const stubs = join(dir, "stubs");
    mkdirSync(stubs);
    const called = join(dir, "called");
    for (const tool of ["apt-get", "apt", "sudo", "python3", "pip", "pip3"]) {
      writeFileSync(join(stubs, tool), `#!/bin/sh\necho "${tool} $*" >> "${called}"\nexit 1\n`);
      chmodSync(join(stubs, tool), 0o755);
    }
    const home = join(dir, "home");
    mkdirSync(home);
    const env = {
      ...process.env,
      PATH: `${stubs}:${process.env.PATH}`,
      RUSTUP_HOME: process.env.RUSTUP_HOME ?? join(homedir(), ".rustup"),
      CARGO_HOME: process.env.CARGO_HOME ?? join(homedir(), ".cargo"),
      HOME: home,
      XDG_CONFIG_HOME: home,
      WRANGLER_SEND_METRICS: "false",
      SESSION_SECRET: SECRET,
    };
    delete env.CLOUDFLARE_API_TOKEN;
    delete env.CLOUDFLARE_ACCOUNT_ID;
    const out = join(dir, "out");
    const run = spawnSync(join(repo, "scripts/deploy"), ["--dry-run", "--outdir", out], { cwd: repo, env, encoding: "utf8" });
    const said = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.status, 0, said);
    assert.match(said, /\[preflight\] wrangler\.toml checks out/);
    assert.match(said, /build\/ is up to date/, "the build is this checkout's");
    assert.match(said, /Total Upload: [\d.]+ KiB \/ gzip: [\d.]+ KiB/);
    assert.ok(readdirSync(out).some((f) => f.endsWith(".wasm")), "the bundle has its wasm");
    assert.ok(!existsSync(called), `a test tool's installer was called: ${existsSync(called) ? readFileSync(called, "utf8") : ""}`);
    assert.doesNotMatch(said, /chromium|schemathesis|smollm2|node-llama-cpp/i);
    for (const absent of [".venv", "tests/real-model/pypi", "tests/real-model/node_modules", ".dev.vars"]) {
      assert.ok(!existsSync(join(repo, absent)), `${absent} was installed`);
    }
  });
});

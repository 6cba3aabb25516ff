#!/usr/bin/env node
// The deploy's preflight: reads wrangler.toml (and the environment) before
// anything is installed, built or uploaded, and refuses a configuration the
// Worker cannot serve as docs/operations.md "Deploy: the checklist" sets it up, with
// one sentence per problem naming the fix. `./scripts/deploy` runs it first,
// with the same arguments as `wrangler deploy` (it reads `--config`, `--env`
// and `--dry-run`; the rest are wrangler's).
//
// What it checks:
// - the KV namespace id is not the shipped placeholder;
// - the `[assets]` directory exists;
// - with `SESSION_KEYS = "open"`, a `SESSION_SECRET` it can see: the
//   environment variable (any run), or the Worker's secrets as
//   `wrangler secret list` names them (a real deploy, logged in). It never
//   reads `.dev.vars`: wrangler does not upload it. A secret in the
//   environment must not be `.dev.vars.example`'s, which the deployed Worker
//   refuses;
// - no `LOCAL_DEV` in `[vars]`: it makes the Worker accept the example
//   secrets, and only `./scripts/dev` sets it, on wrangler's command line;
// - with a daily budget, a `DEFAULT_MODEL` the budget can count: one with a
//   price in src/core/llm/catalog.json;
// - callers counted in state objects have their `CALLER_STATE` binding, and
//   the `[[migrations]]` declare every Durable Object class bound.
//
// Node builtins only (it runs before `npm ci`), so wrangler.toml is read by
// the small TOML reader below, which knows what this file uses: tables,
// arrays of tables, strings, numbers, booleans, arrays and inline tables.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The KV id wrangler.toml ships with, until the operator creates a namespace. */
export const PLACEHOLDER_KV_ID = "0".repeat(32);

/** What the Worker requires of a session secret (src/core/access/strength.rs MIN_SESSION_SECRET_CHARS). */
const MIN_SECRET_CHARS = 32;

/** The secrets' example values, as .dev.vars.example ships them (the deployed Worker refuses them). */
function shippedSecrets(root) {
  const path = resolve(root, ".dev.vars.example");
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .map((l) => l.match(/^(?:API_TOKENS|ADMIN_TOKEN|SESSION_SECRET)=(.*)$/)?.[1])
    .filter(Boolean)
    .flatMap((v) => v.split(",").map((t) => t.trim()));
}

/** The Durable Object binding of the callers' state (src/edge/state.rs BINDING). */
const STATE_BINDING = "CALLER_STATE";

/**
 * Parses the TOML this project's wrangler.toml uses. Throws an Error naming
 * the line for anything else (multi-line strings, dates), rather than
 * guessing.
 */
export function parseToml(text) {
  return new TomlReader(text).document();
}

/** A reader over one TOML text: each method reads one construct at `i`. */
class TomlReader {
  constructor(text) {
    this.text = text;
    this.i = 0;
  }

  fail(message) {
    throw new Error(`line ${this.text.slice(0, this.i).split("\n").length}: ${message}`);
  }

  /** What the sticky `re` matches at `i` ("" when nothing). */
  at(re) {
    re.lastIndex = this.i;
    return re.exec(this.text)?.[0] ?? "";
  }

  blank() {
    this.i += this.at(/[ \t]*/y).length;
  }

  /** Blank space, newlines and comments, as allowed between lines and array items. */
  gap() {
    for (;;) {
      this.blank();
      const c = this.text[this.i];
      if (c === "#") this.i += this.at(/[^\n]*/y).length;
      else if (c === "\n" || c === "\r") this.i++;
      else return;
    }
  }

  endOfLine() {
    this.blank();
    this.i += this.at(/#[^\n]*/y).length + this.at(/\r?/y).length;
    if (this.i < this.text.length && this.text[this.i] !== "\n") this.fail("expected the end of the line");
    this.i++;
  }

  expect(s) {
    this.blank();
    if (!this.text.startsWith(s, this.i)) this.fail(`expected ${s}`);
    this.i += s.length;
  }

  string() {
    const { text } = this;
    const quote = text[this.i];
    if (text.startsWith(quote.repeat(3), this.i)) this.fail("multi-line strings are not read by the preflight");
    this.i++;
    let out = "";
    const escapes = { b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", '"': '"', "\\": "\\" };
    while (this.i < text.length && text[this.i] !== quote && text[this.i] !== "\n") {
      if (quote !== '"' || text[this.i] !== "\\") {
        out += text[this.i++];
        continue;
      }
      const e = text[this.i + 1];
      if (e in escapes) {
        out += escapes[e];
        this.i += 2;
      } else if (e === "u" || e === "U") {
        const digits = text.slice(this.i + 2, this.i + (e === "u" ? 6 : 10));
        if (!/^[0-9a-fA-F]+$/.test(digits)) this.fail("a bad \\u escape");
        out += String.fromCodePoint(parseInt(digits, 16));
        this.i += 2 + digits.length;
      } else this.fail(`an unknown escape \\${e}`);
    }
    if (text[this.i] !== quote) this.fail("a string without its closing quote");
    this.i++;
    return out;
  }

  /** A key, bare, quoted or dotted: its parts. */
  key() {
    const parts = [];
    for (;;) {
      this.blank();
      const c = this.text[this.i];
      if (c === '"' || c === "'") parts.push(this.string());
      else {
        const bare = this.at(/[A-Za-z0-9_-]+/y) || this.fail("expected a key");
        parts.push(bare);
        this.i += bare.length;
      }
      this.blank();
      if (this.text[this.i] !== ".") return parts;
      this.i++;
    }
  }

  /** The table `part` of `target`, created if absent (of an array of tables, the last). */
  descend(target, part) {
    target[part] ??= {};
    let next = target[part];
    if (Array.isArray(next)) next = next[next.length - 1];
    if (typeof next !== "object" || next === null) this.fail(`${part} is not a table`);
    return next;
  }

  assign(target, parts, value) {
    for (const part of parts.slice(0, -1)) target = this.descend(target, part);
    const last = parts[parts.length - 1];
    if (last in target) this.fail(`${parts.join(".")} is set twice`);
    target[last] = value;
  }

  value() {
    this.blank();
    const c = this.text[this.i];
    if (c === '"' || c === "'") return this.string();
    if (c === "[") return this.array();
    if (c === "{") return this.inlineTable();
    const raw = this.at(/[^\s,\]}#]+/y) || this.fail("expected a value");
    this.i += raw.length;
    if (raw === "true" || raw === "false") return raw === "true";
    if (/^[+-]?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?$/.test(raw)) return Number(raw.replaceAll("_", ""));
    return this.fail(`a value the preflight does not read: ${raw}`);
  }

  array() {
    this.i++;
    const items = [];
    for (;;) {
      this.gap();
      if (this.text[this.i] === "]") break;
      items.push(this.value());
      this.gap();
      if (this.text[this.i] === ",") this.i++;
      else if (this.text[this.i] !== "]") this.fail("expected , or ] in an array");
    }
    this.i++;
    return items;
  }

  inlineTable() {
    this.i++;
    const table = {};
    this.blank();
    while (this.text[this.i] !== "}") {
      const parts = this.key();
      this.expect("=");
      this.assign(table, parts, this.value());
      this.blank();
      if (this.text[this.i] === ",") this.i++;
      else if (this.text[this.i] !== "}") this.fail("expected , or } in an inline table");
    }
    this.i++;
    return table;
  }

  /** `[a.b]` or `[[a.b]]` at `i`: the table that the lines after it fill. */
  header(root) {
    const many = this.text.startsWith("[[", this.i);
    this.i += many ? 2 : 1;
    const parts = this.key();
    this.expect(many ? "]]" : "]");
    if (!many) return parts.reduce((t, part) => this.descend(t, part), root);
    const parent = parts.slice(0, -1).reduce((t, part) => this.descend(t, part), root);
    const last = parts[parts.length - 1];
    parent[last] ??= [];
    if (!Array.isArray(parent[last])) this.fail(`${parts.join(".")} is not an array of tables`);
    const table = {};
    parent[last].push(table);
    return table;
  }

  document() {
    const root = {};
    let table = root;
    for (;;) {
      this.gap();
      if (this.i >= this.text.length) return root;
      if (this.text[this.i] === "[") table = this.header(root);
      else {
        const parts = this.key();
        this.expect("=");
        this.assign(table, parts, this.value());
      }
      this.endOfLine();
    }
  }
}

/**
 * What wrangler deploys for `env` (undefined: the top level): vars, KV and
 * Durable Object bindings are not inherited by an environment; assets are;
 * migrations are top-level only (wrangler's configuration docs).
 */
export function effective(toml, env) {
  if (env === undefined) return toml;
  const own = toml.env?.[env];
  if (!own) throw new Error(`wrangler.toml has no [env.${env}]`);
  return { ...own, assets: own.assets ?? toml.assets, migrations: toml.migrations };
}

/** The classes the migrations declare, applied in order. */
export function declaredClasses(migrations = []) {
  const classes = new Set();
  for (const m of migrations) {
    for (const c of [...(m.new_classes ?? []), ...(m.new_sqlite_classes ?? [])]) classes.add(c);
    for (const { from, to } of m.renamed_classes ?? []) {
      classes.delete(from);
      classes.add(to);
    }
    for (const { to } of m.transferred_classes ?? []) classes.add(to);
    for (const c of m.deleted_classes ?? []) classes.delete(c);
  }
  return classes;
}

/** The built-in default model and the aliases of the models offered by default (src/core/llm/registry.rs). */
function builtIns(root) {
  const source = readFileSync(resolve(root, "src/core/llm/registry.rs"), "utf8");
  const fallback = source.match(/pub const BUILT_IN_DEFAULT: &str = "([^"]+)"/)?.[1];
  const block = source.match(/pub const BUILT_IN: \[[^\]]*\] = \[([\s\S]*?)\];/)?.[1] ?? "";
  const offered = [...block.matchAll(/\(\s*"([^"]+)",\s*"([^"]+)",?\s*\)/g)].map(([, id, alias]) => ({ id, alias }));
  return { fallback, offered };
}

/**
 * Where the price the budget counts `name`'s calls at comes from: the
 * catalog entry it names (by id or built-in alias, as the Worker resolves
 * it), else `MODEL_PRICES`, else the assumed price (never free: the budget
 * binds whichever it is). A `MODEL_PRICES` that does not read is refused.
 */
function priceOf(name, modelPrices, root) {
  const catalog = JSON.parse(readFileSync(resolve(root, "src/core/llm/catalog.json"), "utf8"));
  const { offered } = builtIns(root);
  const id = offered.find((m) => m.alias.toLowerCase() === name.toLowerCase())?.id ?? name;
  const entry = catalog.models.find((m) => m.id.toLowerCase() === id.toLowerCase());
  const set = {};
  for (const item of (modelPrices ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = item.match(/^(.+)=\s*([0-9.]+)\s*\/\s*([0-9.]+)\s*$/);
    if (!m || !(Number(m[2]) > 0 && Number(m[3]) > 0)) {
      return { refusal: `MODEL_PRICES has "${item}", which is not model=input/output in dollars per million tokens (both above 0): fix it as docs/models.md "Prices" shows.` };
    }
    set[m[1].trim().toLowerCase()] = true;
  }
  if (entry?.price) return { source: "published" };
  if (set[id.toLowerCase()]) return { source: "MODEL_PRICES" };
  return { source: "the assumed price (ASSUMED_MODEL_PRICE; set its price in MODEL_PRICES)" };
}

/**
 * Why the preflight cannot see a usable SESSION_SECRET, or null. A real
 * deploy asks wrangler for the Worker's secrets (by name; values are never
 * shown) and falls back on the environment variable when it cannot list
 * them; a dry run has no login and sees only the environment variable.
 * .dev.vars never counts: wrangler does not upload it.
 */
function sessionSecretProblem({ environ, dryRun, listSecrets, shipped }) {
  const fromEnv = environ.SESSION_SECRET?.trim();
  const put = "openssl rand -hex 32 | npx wrangler secret put SESSION_SECRET";
  const off = 'or set SESSION_KEYS = "off" and give out tokens';
  if (fromEnv && shipped.includes(fromEnv)) {
    return `SESSION_SECRET in the environment is the example value of .dev.vars.example, which anyone can read; the deployed Worker refuses it and issues no session key: ${put}, ${off}.`;
  }
  if (fromEnv && [...fromEnv].length < MIN_SECRET_CHARS) {
    return `SESSION_SECRET in the environment has ${[...fromEnv].length} characters; the Worker needs at least ${MIN_SECRET_CHARS} and issues no session key with fewer: ${put}, ${off}.`;
  }
  if (!dryRun) {
    const listed = listSecrets();
    if (listed.names) {
      if (listed.names.includes("SESSION_SECRET")) return null;
      return `SESSION_KEYS is "open" but the Worker's secrets (wrangler secret list) have no SESSION_SECRET: ${put}, ${off}.`;
    }
    if (fromEnv) return null;
    return `SESSION_KEYS is "open" but the preflight sees no SESSION_SECRET: it is not in the environment, the Worker's secrets could not be listed (${listed.error}), and .dev.vars does not count (it is local only; wrangler never uploads it). Log in with npx wrangler login and run ${put}, ${off}.`;
  }
  if (fromEnv) return null;
  return `SESSION_KEYS is "open" but the preflight sees no SESSION_SECRET. A dry run has no login, so it sees only the environment variable SESSION_SECRET: not the Worker's secrets (npx wrangler secret list, once logged in), and not .dev.vars (local only; wrangler never uploads it). Make and put one with export SESSION_SECRET=$(openssl rand -hex 32) and printf %s "$SESSION_SECRET" | npx wrangler secret put SESSION_SECRET, then run again in that shell; ${off}.`;
}

/** The Worker's secret names, from `wrangler secret list` (needs a login). */
function wranglerSecrets(root, args) {
  const wrangler = resolve(root, "node_modules/.bin/wrangler");
  if (!existsSync(wrangler)) return { error: "wrangler is not installed yet: ./scripts/setup --deploy" };
  try {
    const out = execFileSync(wrangler, ["secret", "list", "--format", "json", ...args], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    return { names: JSON.parse(out).map((s) => s.name) };
  } catch (e) {
    const said = `${e.stderr ?? ""}`.split("\n").find((l) => /\S/.test(l) && !/^\s*[⛅─]/.test(l));
    return { error: said?.trim() || "wrangler secret list failed" };
  }
}

/**
 * The refusals for the wrangler.toml at `configPath` (environment `env`),
 * each a sentence naming the fix; empty when it may deploy.
 */
export function check(options) {
  return review(options).refusals;
}

/** The refusals, and what was checked (for the line that says it passed). */
export function review({ configPath, env, dryRun, environ = process.env, root = ROOT, listSecrets }) {
  const toml = effective(parseToml(readFileSync(configPath, "utf8")), env);
  const where = relative(process.cwd(), configPath) || configPath;
  const vars = Object.fromEntries(Object.entries(toml.vars ?? {}).map(([k, v]) => [k, String(v).trim()]));
  const refusals = [];
  const checked = ["the KV id"];

  const kv = (toml.kv_namespaces ?? []).find((n) => n.binding === "COACH_KV");
  if (!kv) {
    refusals.push(`${where} binds no COACH_KV namespace (issued tokens live there): add [[kv_namespaces]] binding = "COACH_KV" with the id that npx wrangler kv namespace create COACH_KV prints.`);
  } else if (String(kv.id ?? "") === PLACEHOLDER_KV_ID) {
    refusals.push(`COACH_KV's id in ${where} is the placeholder ${PLACEHOLDER_KV_ID}: create the namespace with npx wrangler kv namespace create COACH_KV and put the id it prints into [[kv_namespaces]].`);
  } else if (!/^[0-9a-f]{32}$/.test(String(kv.id ?? ""))) {
    refusals.push(`COACH_KV's id in ${where} is not a KV namespace id (32 hex digits): put the id that npx wrangler kv namespace create COACH_KV (or npx wrangler kv namespace list) prints into [[kv_namespaces]].`);
  }

  const assets = toml.assets?.directory;
  if (assets !== undefined) {
    checked.push("the assets directory");
    const dir = isAbsolute(assets) ? assets : resolve(dirname(configPath), assets);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      refusals.push(`[assets] directory "${assets}" in ${where} does not exist (${dir}): copy the coach frontend's static/ folder there, or point directory at the folder to serve (./public is this project's own page).`);
    }
  }

  if (vars.SESSION_KEYS === "open") {
    checked.push("SESSION_SECRET");
    const problem = sessionSecretProblem({
      environ,
      dryRun,
      listSecrets: listSecrets ?? (() => wranglerSecrets(root, configArgs(configPath, env))),
      shipped: shippedSecrets(root),
    });
    if (problem) refusals.push(problem);
  }

  if ((vars.DAILY_NEURON_BUDGET || "10000") !== "off") {
    const price = priceOf(vars.DEFAULT_MODEL || builtIns(root).fallback, vars.MODEL_PRICES, root);
    if (price.refusal) refusals.push(price.refusal);
    else checked.push(`the default model's price (${price.source})`);
  }

  if ("LOCAL_DEV" in vars) {
    refusals.push(`LOCAL_DEV is set in [vars] of ${where}: it makes the Worker accept the example secrets shipped with this project, and only ./scripts/dev sets it (on wrangler's command line). Remove it.`);
  }

  const bound = toml.durable_objects?.bindings ?? [];
  if (["", "do", "durable-object"].includes(vars.RATE_LIMIT_STORE ?? "") && !bound.some((b) => b.name === STATE_BINDING)) {
    refusals.push(`${where} binds no ${STATE_BINDING} Durable Object, but RATE_LIMIT_STORE = "${vars.RATE_LIMIT_STORE ?? "do"}" counts callers in it (every generate request would answer 503): add [[durable_objects.bindings]] name = "${STATE_BINDING}", class_name = "CallerState", as shipped.`);
  }
  const declared = declaredClasses(toml.migrations);
  for (const b of bound.filter((b) => !b.script_name && !declared.has(b.class_name))) {
    refusals.push(`The Durable Object class ${b.class_name} (binding ${b.name}) is not declared by the [[migrations]] in ${where}: add one with new_sqlite_classes = ["${b.class_name}"] (tag "v1" on a first deploy, else a new tag after the last).`);
  }
  checked.push("the Durable Object bindings and migrations");
  return { refusals, checked };
}

/** `--config` and `--env` as wrangler takes them. */
function configArgs(configPath, env) {
  return ["--config", configPath, ...(env === undefined ? [] : ["--env", env])];
}

/** The few `wrangler deploy` arguments the preflight reads. */
export function readArgs(argv) {
  const args = { config: "wrangler.toml", env: undefined, dryRun: false };
  for (let k = 0; k < argv.length; k++) {
    const [flag, inline] = argv[k].split(/=(.*)/s);
    const next = () => inline ?? argv[++k];
    if (flag === "--config" || flag === "-c") args.config = next();
    else if (flag === "--env" || flag === "-e") args.env = next();
    else if (flag === "--dry-run") args.dryRun = inline !== "false";
  }
  return args;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = readArgs(process.argv.slice(2));
  const configPath = resolve(args.config);
  let refusals;
  let checked;
  try {
    ({ refusals, checked } = review({ configPath, env: args.env, dryRun: args.dryRun }));
  } catch (e) {
    refusals = [`${args.config} could not be read: ${e.message}.`];
  }
  if (refusals.length) {
    for (const r of refusals) console.error(`[preflight] refused: ${r}`);
    console.error(`[preflight] nothing was built or uploaded; the checklist is docs/operations.md "Deploy: the checklist".`);
    process.exit(1);
  }
  console.error(`[preflight] ${args.config} checks out: ${checked.join(", ")}.`);
}

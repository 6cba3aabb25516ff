#!/usr/bin/env node
// Builds src/core/llm/catalog.json, the model catalog the Worker reads, from
// Cloudflare's published data:
//   - model entries in cloudflare-docs' format (src/content/workers-ai-models/*.json):
//     `name`, `task.name`, `properties` (context_window, planned_deprecation_date, beta,
//     price...), `schema.input` (generation-option ranges) and `schema.output`
//     (answer shape). data/workers-ai-models/ holds the entries transcribed from the
//     stored docs, trimmed to those fields, each with its commit in `_source`;
//   - data/workers-ai-json-mode.json: the JSON-mode list of json-mode.mdx;
//   - data/workers-ai-retirements.json: the published retirement notices.
// Only Text Generation models that take `messages` are kept: the Worker sends
// nothing else.
//
// Usage: scripts/catalog [--models DIR] [--json-mode FILE] [--retirements FILE]
//                        [--date YYYY-MM-DD] [--out FILE | --stdout]
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The generation options the Worker may send, and their JSON types. */
export const OPTIONS = [
  "temperature",
  "max_tokens",
  "top_p",
  "top_k",
  "repetition_penalty",
  "presence_penalty",
  "frequency_penalty",
  "seed",
];

function property(entry, id) {
  const p = (entry.properties ?? []).find((x) => x.property_id === id);
  return p === undefined ? undefined : p.value;
}

/** Every object schema reachable through oneOf/anyOf/allOf, itself included. */
function branches(schema) {
  if (!schema || typeof schema !== "object") return [];
  const out = [schema];
  for (const key of ["oneOf", "anyOf", "allOf"]) {
    for (const s of schema[key] ?? []) out.push(...branches(s));
  }
  return out;
}

/** The input branch that takes chat `messages`, or undefined. */
function messagesBranch(input) {
  return branches(input).find((b) => b.properties && "messages" in b.properties);
}

function range(spec) {
  // Some schemas write a nullable option as `anyOf: [{type, minimum, maximum}, {type: "null"}]`.
  const typed = (spec.anyOf ?? []).find((s) => s.type && s.type !== "null");
  if (typed && spec.minimum === undefined && spec.maximum === undefined) spec = typed;
  const min = spec.minimum ?? (spec.exclusiveMinimum !== undefined ? spec.exclusiveMinimum : null);
  const max = spec.maximum ?? (spec.exclusiveMaximum !== undefined ? spec.exclusiveMaximum : null);
  return { min, max, integer: spec.type === "integer" };
}

/** How the model answers: `response` (Workers AI's own shape) or `choices` (OpenAI chat completions). */
function answerShape(output) {
  const names = new Set();
  for (const b of branches(output)) for (const k of Object.keys(b.properties ?? {})) names.add(k);
  if (names.has("response")) return "response";
  if (names.has("choices")) return "choices";
  return null;
}

function outputHasReasoning(output) {
  return JSON.stringify(output ?? {}).includes('"reasoning_content"');
}

function price(entry) {
  const p = property(entry, "price");
  if (!Array.isArray(p)) return null;
  const find = (unit) => p.find((x) => x.unit === unit)?.price ?? null;
  const input = find("per M input tokens");
  const output = find("per M output tokens");
  return input === null && output === null ? null : { input_per_m: input, output_per_m: output, currency: "USD" };
}

function number(v) {
  const n = Number(v);
  return v === undefined || v === null || v === "" || !Number.isFinite(n) ? null : n;
}

/** One catalog entry from one published model entry, or null when the Worker cannot call it. */
export function entryOf(model, { jsonMode, retirements, file }) {
  if (model?.task?.name !== "Text Generation" || typeof model.name !== "string") return null;
  const branch = messagesBranch(model.schema?.input);
  if (!branch) return null;
  const options = {};
  for (const name of OPTIONS) {
    const spec = branch.properties[name];
    if (spec) options[name] = range(spec);
  }
  const retired = retirements.get(model.name);
  const planned = property(model, "planned_deprecation_date") ?? null;
  const src = model._source ?? {};
  return {
    id: model.name,
    context_window: number(property(model, "context_window")),
    json_mode: jsonMode.has(model.name),
    // The schema takes `stream: true` (the answer then comes as server-sent events).
    streams: branch.properties.stream?.type === "boolean",
    answer: answerShape(model.schema?.output),
    reasoning: property(model, "reasoning") === "true" || outputHasReasoning(model.schema?.output),
    beta: property(model, "beta") === "true",
    retires_on: planned ?? retired?.on ?? null,
    retired_by_notice: retired !== undefined,
    successor: retired?.successor ?? null,
    options,
    price: price(model),
    source: src.commit ? `${src.path ?? file}@${src.commit.slice(0, 12)}` : file,
  };
}

export function buildCatalog({ models, jsonModeDoc, retirementsDoc, date }) {
  const jsonMode = new Set(jsonModeDoc.models);
  const retirements = new Map(retirementsDoc.retired.map((r) => [r.id, r]));
  const entries = models
    .map(({ file, model }) => entryOf(model, { jsonMode, retirements, file }))
    .filter(Boolean)
    // Two published files can describe one id; the first (by file name) wins.
    .filter((e, i, all) => all.findIndex((x) => x.id === e.id) === i);
  // A retirement notice for a model whose entry we do not hold still tells
  // the Worker that the id is retired (and what replaces it).
  for (const r of retirementsDoc.retired) {
    if (!entries.some((e) => e.id === r.id)) {
      entries.push({
        id: r.id, context_window: null, json_mode: false, streams: false, answer: null, reasoning: false, beta: false,
        retires_on: r.on, retired_by_notice: true, successor: r.successor ?? null, options: {}, price: null,
        source: r.source ?? "retirement notice",
      });
    }
  }
  entries.sort((a, b) => a.id.localeCompare(b.id));
  return {
    source: {
      models: "cloudflare/cloudflare-docs src/content/workers-ai-models/*.json (each entry's `source` names its file and commit)",
      json_mode: jsonModeDoc.source,
      retirements: retirementsDoc.source,
      read_on: date,
    },
    models: entries,
  };
}

function readModels(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ file: f, model: JSON.parse(readFileSync(join(dir, f), "utf8")) }));
}

function main(argv) {
  const args = new Map();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--stdout") args.set("stdout", true);
    else args.set(argv[i].replace(/^--/, ""), argv[++i]);
  }
  const catalog = buildCatalog({
    models: readModels(args.get("models") ?? join(root, "data/workers-ai-models")),
    jsonModeDoc: JSON.parse(readFileSync(args.get("json-mode") ?? join(root, "data/workers-ai-json-mode.json"), "utf8")),
    retirementsDoc: JSON.parse(
      readFileSync(args.get("retirements") ?? join(root, "data/workers-ai-retirements.json"), "utf8"),
    ),
    date: args.get("date") ?? "2026-11-21",
  });
  // One model a line: readable diffs, small bundle.
  const text =
    `{"source": ${JSON.stringify(catalog.source)},\n "models": [\n` +
    catalog.models.map((m) => "  " + JSON.stringify(m)).join(",\n") +
    "\n]}\n";
  if (args.get("stdout")) process.stdout.write(text);
  else {
    const out = args.get("out") ?? join(root, "src/core/llm/catalog.json");
    writeFileSync(out, text);
    console.error(`[catalog] ${catalog.models.length} text-generation models -> ${out}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));

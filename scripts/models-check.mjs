// Compares the checked-in catalog (src/core/llm/catalog.json) with the live
// Workers AI catalog as `wrangler ai models list --json` prints it for a
// logged-in operator (wrangler 4.168: the raw entries of the models/search
// API, each with `name`, `task.name` and `properties`), and prints what changed: new
// text-generation models, models no longer listed, retirement dates, context
// windows. That listing does not publish JSON-mode support, so the JSON-mode
// list is printed for a manual check against json-mode.mdx.
//
// Exit status: 0 no drift, 1 drift found, 2 could not compare.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

function property(entry, id) {
  return (entry.properties ?? []).find((p) => p.property_id === id)?.value;
}

/** The drift between `catalog` (ours) and `listing` (wrangler's entries), as lines. */
export function drift(catalog, listing) {
  const live = new Map(
    listing.filter((e) => e?.task?.name === "Text Generation" && typeof e.name === "string").map((e) => [e.name, e]),
  );
  const ours = new Map(catalog.models.map((m) => [m.id, m]));
  const lines = [];
  for (const [id, e] of live) {
    if (!ours.has(id)) lines.push(`new: ${id} (context window ${property(e, "context_window") ?? "unpublished"})`);
  }
  for (const [id, m] of ours) {
    const e = live.get(id);
    if (!e) {
      if (!m.retired_by_notice && !m.retires_on) lines.push(`no longer listed: ${id} (retired? add it to data/workers-ai-retirements.json)`);
      continue;
    }
    const date = property(e, "planned_deprecation_date") ?? null;
    if (date !== null && date !== m.retires_on) lines.push(`retirement: ${id} now ${date} (catalog: ${m.retires_on ?? "none"})`);
    const window = property(e, "context_window");
    if (window !== undefined && Number(window) !== m.context_window) {
      lines.push(`context window: ${id} now ${window} (catalog: ${m.context_window ?? "none"})`);
    }
  }
  return lines;
}

function main(argv) {
  const from = argv[argv.indexOf("--from") + 1];
  const catalog = JSON.parse(readFileSync(new URL("../src/core/llm/catalog.json", import.meta.url), "utf8"));
  let text;
  try {
    text = argv.includes("--from")
      ? readFileSync(from, "utf8")
      : execFileSync("npx", ["wrangler", "ai", "models", "list", "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  } catch (e) {
    console.error(`models-check: could not read the live catalog (${e.message.split("\n")[0]}); run \`npx wrangler login\` first, or pass --from FILE`);
    process.exit(2);
  }
  const listing = JSON.parse(text.slice(text.indexOf("[")));
  const lines = drift(catalog, listing);
  for (const line of lines) console.log(line);
  const jsonMode = catalog.models.filter((m) => m.json_mode).map((m) => m.id);
  console.log(`JSON mode is not in this listing; check json-mode.mdx still lists: ${jsonMode.join(", ")}`);
  console.log(lines.length === 0 ? "no drift" : `${lines.length} change(s): update data/ and run scripts/catalog`);
  process.exit(lines.length === 0 ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));

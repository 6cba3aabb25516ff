#!/usr/bin/env node
// Checks the docs' links and section references, so a renamed heading or a
// moved file cannot leave a pointer to nowhere:
// - in every Markdown file, each relative link names a file or folder that
//   exists, and each `#anchor` (in the same file or another Markdown file) is
//   the anchor of one of its headings, as GitHub makes them;
// - in every source, script, config and doc file, each section named after a
//   page, as in README "Two commands" or docs/operations.md "Deploy: the checklist"
//   (comments wrap; the words are joined across lines), is a heading of that
//   page.
// Usage: node scripts/check-links.mjs [root]; exits 1 and names each broken
// one. Node builtins only (scripts/test runs it before anything is built).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Folders that hold installed, generated or vendored files, not the project's. */
const SKIP = new Set([".git", "node_modules", "target", "build", ".venv", ".wrangler", "pypi", "dist"]);

/** Files read for section references: by extension, or by name. */
const TEXT = /\.(md|rs|mjs|js|cjs|toml|json|sh|py|html|example)$|^(run|setup|test|deploy|dev|build|bench|eval|catalog|profile|dev-remote-ai|models-check)$/;

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) walk(path, out);
    else if (stat.isFile() && stat.size < 2_000_000) out.push(path);
  }
  return out;
}

/** The text of a Markdown file outside fenced code blocks, line by line (code lines blank). */
function prose(markdown) {
  let fenced = false;
  return markdown.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line;
  });
}

/** GitHub's anchor for a heading's text: inline code and links read as their text, punctuation dropped. */
export function slug(heading) {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, "")
    .replace(/ /g, "-");
}

/** A Markdown file's headings (their text) and anchors (duplicates numbered as GitHub does). */
function headingsOf(path, cache) {
  if (!cache.has(path)) {
    const texts = prose(readFileSync(path, "utf8"))
      .map((line) => line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/)?.[1])
      .filter((t) => t !== undefined);
    const anchors = new Set();
    const seen = new Map();
    for (const text of texts) {
      const base = slug(text);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    cache.set(path, { texts: new Set(texts.map((t) => t.replace(/`/g, "").toLowerCase())), anchors });
  }
  return cache.get(path);
}

/** Each relative link of a Markdown file: `[text](target)` and `[label]: target`. */
function linksOf(markdown) {
  const links = [];
  prose(markdown).forEach((line, i) => {
    const bare = line.replace(/`[^`]*`/g, "");
    for (const m of bare.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1], line: i + 1 });
    const def = bare.match(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/);
    if (def) links.push({ target: def[1], line: i + 1 });
  });
  return links.filter(({ target }) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** The broken links of one Markdown file. */
function checkLinks(file, root, cache) {
  const problems = [];
  for (const { target, line } of linksOf(readFileSync(file, "utf8"))) {
    const [path, anchor] = target.split("#");
    const dest = path === "" ? file : resolve(dirname(file), decodeURIComponent(path));
    const where = `${relative(root, file)}:${line}`;
    if (!existsSync(dest)) {
      problems.push(`${where}: ${target}: no such file`);
    } else if (anchor !== undefined && dest.endsWith(".md") && !headingsOf(dest, cache).anchors.has(anchor)) {
      problems.push(`${where}: ${target}: ${relative(root, dest)} has no heading with the anchor #${anchor}`);
    }
  }
  return problems;
}

/** A file's words with comment markers taken off and lines joined, and where each line starts. */
function joined(text) {
  const starts = [];
  let out = "";
  for (const line of text.split("\n")) {
    starts.push(out.length);
    out += `${line.replace(/^\s*(\/\/[/!]?|#+|\*|--|;+)?\s*/, "")} `;
  }
  return { out, starts };
}

/**
 * The broken section references of one file: a page (README, or a path
 * ending in .md) followed by a heading's text in double quotes. In Markdown,
 * code (fenced or inline) is left out: it shows examples, not references.
 */
function checkSections(file, root, cache) {
  const problems = [];
  const text = readFileSync(file, "utf8");
  const words = file.endsWith(".md") ? prose(text).map((l) => l.replace(/`[^`]*`/g, "")).join("\n") : text;
  const { out, starts } = joined(words);
  const refs = /(?<![\w/.-])(README(?:\.md)?|[\w./-]+\.md)(?:'s)?(?:\s+\(?|\s*\()"([^"\n]{1,100})"/g;
  for (const m of out.matchAll(refs)) {
    const page = m[1].startsWith("README") ? "README.md" : m[1];
    const dest = [resolve(dirname(file), page), resolve(root, page), resolve(root, "docs", page)].find((p) => existsSync(p));
    const line = starts.findLastIndex((s) => s <= m.index) + 1;
    const where = `${relative(root, file)}:${line}`;
    const section = m[2].replace(/\s+/g, " ").trim();
    if (!dest) problems.push(`${where}: ${m[1]} "${section}": no such page`);
    else if (!headingsOf(dest, cache).texts.has(section.replace(/`/g, "").toLowerCase())) {
      problems.push(`${where}: ${m[1]} "${section}": ${relative(root, dest)} has no such heading`);
    }
  }
  return problems;
}

/** Every broken link and section reference under `root`. */
export function check(root) {
  const cache = new Map();
  const files = walk(root);
  return [
    ...files.filter((f) => f.endsWith(".md")).flatMap((f) => checkLinks(f, root, cache)),
    ...files.filter((f) => TEXT.test(f.split("/").pop())).flatMap((f) => checkSections(f, root, cache)),
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? fileURLToPath(new URL("../", import.meta.url)));
  const problems = check(root);
  for (const p of problems) console.error(`[links] ${p}`);
  if (problems.length) process.exit(1);
  console.error("[links] every relative link, anchor and section reference resolves");
}

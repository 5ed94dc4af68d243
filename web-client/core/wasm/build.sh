#!/usr/bin/env bash
# Builds the client core for the browser: the wasm32 library (profile `wasm-release`: opt-level "z",
# LTO, one codegen unit) and its wasm-bindgen `web` glue in web-client/core/wasm/pkg/, which both the
# web app and the Node test load. Prints the raw and gzipped size of the .wasm.
#
#   web-client/core/wasm/build.sh            # release: function names removed (size)
#   web-client/core/wasm/build.sh --names    # keeps the wasm `name` section (readable stack traces)
#
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli at the version of wasm-bindgen in
# Cargo.lock (scripts/test installs both).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
PKG=web-client/core/wasm/pkg
CRATE=sallyport_core_wasm

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }') ||
    { echo "build.sh: wasm-bindgen not found; cargo install wasm-bindgen-cli --version $want" >&2; exit 1; }
if [[ -n "$want" && "$have" != "$want" ]]; then
    echo "build.sh: wasm-bindgen-cli is $have, Cargo.lock has wasm-bindgen $want" >&2
    exit 1
fi

names=(--remove-name-section)
[[ "${1:-}" == --names ]] && names=()

# Size settings for the wasm32 code only (with --target, these flags reach neither build scripts,
# proc macros nor the native build; measured in web-client/core/README.md):
# the compact software back end of sha2 (smaller, slower code; the same results). Any RUSTFLAGS
# from the environment are kept.
flags=(--cfg 'sha2_backend_soft="compact"')
read -r -a env_flags <<<"${RUSTFLAGS:-}"
flags+=("${env_flags[@]}")
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; echo "${flags[*]}")
export CARGO_ENCODED_RUSTFLAGS

# `cargo rustc --crate-type cdylib` rather than `cargo build`: with both `cdylib` and `rlib` in
# Cargo.toml, cargo silently drops LTO (rust-lang/cargo#9672), which made the module 25 % larger.
cargo rustc -p sallyport-core-wasm --target wasm32-unknown-unknown --profile wasm-release --crate-type cdylib

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
wasm="$target_dir/wasm32-unknown-unknown/wasm-release/$CRATE.wasm"

rm -rf "$PKG"
# No `strip` in the profile (wasm-bindgen would lose the target_features section); the name section
# (function names, about 15 % of the gzipped size) is dropped here instead.
wasm-bindgen --target web "${names[@]}" --out-dir "$PKG" "$wasm"

out="$PKG/${CRATE}_bg.wasm"
raw=$(wc -c <"$out")
gz=$(gzip -9 -c "$out" | wc -c)
awk -v f="$out" -v r="$raw" -v g="$gz" 'BEGIN { printf "%s: %d bytes raw, %d bytes gzipped (gzip -9) = %.1f KB\n", f, r, g, g / 1000 }'

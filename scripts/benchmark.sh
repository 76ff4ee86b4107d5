#!/usr/bin/env bash
# Builds opg-node with `runtime-benchmarks` and regenerates the weights.rs of the OPG pallets with
# `opg-node benchmark pallet` (frame-benchmarking), on the `dev` chain, in the compiled wasm.
#
# Usage: scripts/benchmark.sh [pallet ...]     (default: every OPG pallet)
#   STEPS (default 20) and REPEAT (default 10) set the sampling; lower them for a quick run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_setup
cd "$REPO_ROOT"

declare -A crate_dir=(
	[pallet_models]=pallets/models
	[pallet_inference_staking]=pallets/staking
	[pallet_inference]=pallets/inference
)
pallets=("$@")
[ "${#pallets[@]}" -gt 0 ] || pallets=("${!crate_dir[@]}")

log "Building opg-node (release, runtime-benchmarks)"
cargo build --locked --release -p opg-node --features runtime-benchmarks
bench_bin="$CARGO_TARGET_DIR/release/opg-node-benchmarks"
cp "$CARGO_TARGET_DIR/release/opg-node" "$bench_bin"

for pallet in "${pallets[@]}"; do
	dir="${crate_dir[$pallet]:?unknown pallet $pallet}"
	log "Benchmarking $pallet -> $dir/src/weights.rs"
	"$bench_bin" benchmark pallet \
		--chain dev \
		--pallet "$pallet" --extrinsic '*' \
		--steps "${STEPS:-20}" --repeat "${REPEAT:-10}" \
		--wasm-execution compiled \
		--heap-pages 4096 \
		--template scripts/templates/pallet-weights.hbs \
		--output "$dir/src/weights.rs"
done

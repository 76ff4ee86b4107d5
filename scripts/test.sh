#!/usr/bin/env bash
# Runs every test of the project: the workspace's cargo tests (crates that need no node client,
# in the debug profile), the explorer's unit tests (vitest), then the end-to-end tests against
# real opg-node processes (release build with the fast-runtime feature: 2 s slots) through
# @polkadot/api, the explorer's among them in headless Chromium (screenshots in tests/output/).
#
# Usage: scripts/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_setup
cd "$REPO_ROOT"

# The node is only built once, in release, for the end-to-end tests. The cargo unit tests skip the
# wasm build: they run the runtime natively.
set +e
# The engine's cross-CPU test compares the native run with this build under qemu-aarch64; if the
# cross build fails, that test fails and says so.
build_cross_cpu_aarch64
log "cargo test (workspace, except the node)"
SKIP_WASM_BUILD=1 cargo test --locked --no-fail-fast --workspace --exclude opg-node 2>&1 | tee "$CARGO_TARGET_DIR/cargo-test.log"
cargo_status=${PIPESTATUS[0]}
# The pallets' benchmarks run as tests against their mocks too.
log "cargo test (pallets with runtime-benchmarks)"
SKIP_WASM_BUILD=1 cargo test --locked --no-fail-fast -p pallet-models -p pallet-inference-staking \
	-p pallet-inference --features runtime-benchmarks 2>&1 | tee -a "$CARGO_TARGET_DIR/cargo-test.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || cargo_status=1
set -e
read -r cargo_pass cargo_fail < <(grep -E '^test result:' "$CARGO_TARGET_DIR/cargo-test.log" |
	awk '{p+=$4; f+=$6} END {print p+0, f+0}')
if [ "$cargo_status" -ne 0 ] && [ "$cargo_fail" -eq 0 ]; then cargo_fail=1; fi # did not build

log "Explorer: bundle (tsc, vite build) and unit tests (vitest)"
set +e
# A bundle that does not build fails here, counted, and leaves the other tests to run.
{ build_explorer && (cd "$REPO_ROOT/explorer" && NO_COLOR=1 npm test --silent); } 2>&1 |
	tee "$CARGO_TARGET_DIR/explorer-test.log"
unit_status=${PIPESTATUS[0]}
set -e
# vitest's summary: "Tests  2 failed | 40 passed (42)" or "Tests  42 passed (42)" (colour codes
# stripped, should any remain).
summary="$(sed -E 's/\x1b\[[0-9;]*m//g' "$CARGO_TARGET_DIR/explorer-test.log" | grep -E '^ +Tests +' | tail -n1)"
unit_pass="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
unit_fail="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")"
unit_pass=${unit_pass:-0}
unit_fail=${unit_fail:-0}
if [ "$unit_status" -ne 0 ] && [ "$unit_fail" -eq 0 ]; then unit_fail=1; fi

node_bin="$(build_node fast)"

log "End-to-end tests (node --test, @polkadot/api) against $node_bin"
cd "$REPO_ROOT/tests"
set +e
OPG_NODE_BIN="$node_bin" node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs 2>&1 |
	tee "$CARGO_TARGET_DIR/e2e-test.log"
e2e_status=${PIPESTATUS[0]}
set -e
e2e_pass="$(sed -nE 's/^ℹ pass ([0-9]+)$/\1/p' "$CARGO_TARGET_DIR/e2e-test.log" | tail -n1)"
e2e_fail="$(sed -nE 's/^ℹ fail ([0-9]+)$/\1/p' "$CARGO_TARGET_DIR/e2e-test.log" | tail -n1)"
e2e_pass=${e2e_pass:-0}
e2e_fail=${e2e_fail:-0}
if [ "$e2e_status" -ne 0 ] && [ "$e2e_fail" -eq 0 ]; then e2e_fail=1; fi

echo
echo "cargo test: $cargo_pass passed, $cargo_fail failed"
echo "explorer unit: $unit_pass passed, $unit_fail failed"
echo "end-to-end: $e2e_pass passed, $e2e_fail failed"
echo "total: $((cargo_pass + unit_pass + e2e_pass)) passed, $((cargo_fail + unit_fail + e2e_fail)) failed"
[ "$cargo_fail" -eq 0 ] && [ "$unit_fail" -eq 0 ] && [ "$e2e_fail" -eq 0 ]

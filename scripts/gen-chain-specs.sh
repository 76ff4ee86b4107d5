#!/usr/bin/env bash
# Regenerates chain-specs/local.json (plain spec) from the runtime's `local_testnet` preset with
# the production runtime. tests/chain-spec.test.mjs fails when the committed file is stale.
#
# Usage: scripts/gen-chain-specs.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_setup
node_bin="$(build_node production)"
mkdir -p "$REPO_ROOT/chain-specs"
"$node_bin" export-chain-spec --chain local >"$REPO_ROOT/chain-specs/local.json"
log "Wrote chain-specs/local.json"

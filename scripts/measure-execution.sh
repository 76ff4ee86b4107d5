#!/usr/bin/env bash
# Measures how fast validators execute inference tasks on their own: starts the local 4-validator
# network with the fast-runtime node (2 s blocks, like the end-to-end tests), sets it up (demo
# MLP, validators serving it, inference keys linked), then measures the latency of sequential
# requests and the throughput of continuous requests, prints a summary table and stops the nodes.
#
# Usage: scripts/measure-execution.sh [--latency-requests N] [--minutes M] [--rate K] [--requesters R]
#          [--warmup S] [--spam-rate K [--spam-redundancy R]] [--honest-tip OPG]
#   defaults: 20 sequential requests; then 4 requests per block from 8 accounts for 3 minutes,
#   settled tasks per minute counted after the first 30 s; with --spam-rate, a spammer's requests
#   of a minimum-fee model run alongside, and the table shows what each side spent per minute;
#   with --honest-tip, every honest request tips that many OPG (the pool orders by tip).
# Environment: OPG_NODE_BIN, the node to measure (default: build the fast-runtime node);
#   the nodes' logs go to $CARGO_TARGET_DIR/measure-logs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in -h | --help) sed -n '2,14p' "$0"; exit 0 ;; esac

ensure_setup
node_bin="${OPG_NODE_BIN:-$(build_node fast)}"

log "Measuring execution with $node_bin"
OPG_NODE_BIN="$node_bin" OPG_E2E_LOG_DIR="$CARGO_TARGET_DIR/measure-logs" \
	node "$REPO_ROOT/scripts/measure-execution.mjs" "$@"

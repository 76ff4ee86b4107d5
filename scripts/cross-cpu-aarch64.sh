#!/usr/bin/env bash
# Cross-builds the engine's cross-CPU test binary (inference/tests/cross_cpu.rs) for aarch64, runs
# its fingerprint under qemu-aarch64 (qemu's `max` CPU) and compares it, part by part, with the
# native run: the engine's functions, kernels, the demo MLP and MiniLM, bit for bit. A measurement
# (about 10 minutes the first time, for the cross build), not part of scripts/test.sh.
#
# Usage: scripts/cross-cpu-aarch64.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_setup
cd "$REPO_ROOT"
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
if [ "${#missing[@]}" -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	log "Installing Debian packages: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null

# gemm (under candle) has half-precision assembly that needs the fp16 extension (ARMv8.2, every
# aarch64 server CPU of the last years).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+fp16"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++

fingerprint() { # binary [runner...]
	local bin="$1"
	shift
	"$@" "$bin" --ignored --exact print_fingerprint --nocapture --test-threads=1 2>/dev/null |
		grep -o 'FINGERPRINT .*' | sed 's/^FINGERPRINT //'
}
test_binary() { # cargo args...
	cargo test --locked -p opg-inference --test cross_cpu --no-run --message-format=json "$@" |
		sed -n 's/.*"executable":"\([^"]*cross_cpu[^"]*\)".*/\1/p' | tail -n1
}

log "Building the native and the aarch64 test binaries"
native_bin="$(test_binary)"
arm_bin="$(test_binary --target aarch64-unknown-linux-gnu)"
log "Fingerprints: native, then aarch64 under qemu-aarch64"
native="$(fingerprint "$native_bin")"
arm="$(fingerprint "$arm_bin" qemu-aarch64 -L /usr/aarch64-linux-gnu)"
status=0
while IFS= read -r line; do
	name="${line%% *}"
	[ "$name" = kernel-path ] && continue
	other="$(grep "^$name " <<<"$arm" || true)"
	if [ "$line" = "$other" ]; then
		echo "same       $line"
	else
		echo "DIFFERENT  native $line / aarch64 ${other:-missing}"
		status=1
	fi
done <<<"$native"
[ "$status" -eq 0 ] && echo "aarch64: every part bit-identical" || echo "aarch64: some parts differ"
exit "$status"

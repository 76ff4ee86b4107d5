#!/usr/bin/env bash
# The engine (opg-inference) against transformers (PyTorch, CPU) and llama.cpp on
# SmolLM2-135M-Instruct (Q4_1 GGUF): prefill and decode tokens/s and peak memory, same prompt,
# same thread count, in one run. Not run in CI.
#
#   scripts/bench-llm.sh [THREADS...]           # default: 1 2
#   ROUNDS=3 RUNS=5 scripts/bench-llm.sh 1      # one thread; ROUNDS and RUNS as by default
#
# For every thread count it alternates ROUNDS times between the Rust example
# (`cargo build --release -p opg-inference --example bench-llm`, run as `bench-llm GGUF THREADS
# RUNS`), `scripts/bench-llm-ref.py transformers` and `scripts/bench-llm-ref.py llama_cpp`. Each
# prefills a fixed chat prompt of 100 tokens in one forward (whose logits give the first new
# token), then runs 64 forwards of one token each with the KV cache, greedy, not stopping at EOS,
# and prints the median over RUNS of prefill tokens/s (100 / prefill time) and decode tokens/s
# (64 / decode time) and its peak resident memory in a `RESULT` line. The table gives the median over the rounds and the
# engine's ratios (above 1: the engine is faster). If the example does not build, the engine is
# left out.
#
# torch, transformers, accelerate, gguf and llama-cpp-python (compiled from source for this CPU:
# several minutes the first time) come from PyPI (the default index) into
# ~/.cache/opg-chain/venv; the model from `scripts/fetch-test-models.sh smollm2`. The machine
# should be otherwise idle: check the load printed at the top.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opg-chain/target-engine}"
rounds="${ROUNDS:-3}"
runs="${RUNS:-5}"
threads_list=("$@")
[[ ${#threads_list[@]} -gt 0 ]] || threads_list=(1 2)

venv="${OPG_VENV:-$HOME/.cache/opg-chain/venv}"
python="$venv/bin/python"
[[ -x "$python" ]] || python3 -m venv "$venv"
if ! "$python" -c 'import torch, transformers, accelerate, gguf' 2>/dev/null; then
	echo "installing torch, transformers, accelerate and gguf into $venv (PyPI)" >&2
	"$venv/bin/pip" install --quiet torch transformers accelerate gguf numpy >&2
fi
# llama.cpp built for this CPU, without its AMX kernels: on a Xeon with AMX they crash in
# ggml_backend_amx_mul_mat on this Q4_1 model (llama.cpp issue 20824; 16315 reports wrong Q4_0
# and Q4_1 results). Explicit -mno-amx-* flags win over -march=native in GCC. A build that has
# them (system info `AMX_INT8 = 1`) is rebuilt.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
llama_cpp_version="0.3.36"
if ! "$python" -c 'import llama_cpp, sys
sys.exit(b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info())' 2>/dev/null; then
	echo "building llama-cpp-python ${llama_cpp_version} into $venv (PyPI, compiles llama.cpp: several minutes)" >&2
	CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'" \
		"$venv/bin/pip" install --quiet --force-reinstall --no-deps --no-cache-dir \
		"llama-cpp-python==${llama_cpp_version}" >&2
	"$venv/bin/pip" install --quiet "llama-cpp-python==${llama_cpp_version}" >&2
fi
gguf="${OPG_SMOLLM2_GGUF:-$(bash "$here/fetch-test-models.sh" smollm2)}"

echo "building the example (release)" >&2
engine="$CARGO_TARGET_DIR/release/examples/bench-llm"
if ! (cd "$repo" && cargo build --quiet --release -p opg-inference --example bench-llm >&2); then
	echo "the bench-llm example did not build: measuring the reference implementations only" >&2
	engine=""
fi

echo "load: $(uptime)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
"$python" -c 'import torch, transformers, llama_cpp
print(f"torch {torch.__version__}, transformers {transformers.__version__}, llama-cpp-python {llama_cpp.__version__}")'

results="$(mktemp)"
log="$(mktemp)"
trap 'rm -f "$results" "$log"' EXIT
# Runs one implementation, keeps its RESULT line, and shows its log only if it fails.
measure() {
	if ! "$@" 2>"$log" | grep '^RESULT' >>"$results"; then
		cat "$log" >&2
		echo "failed: $*" >&2
		exit 1
	fi
}
for threads in "${threads_list[@]}"; do
	for round in $(seq "$rounds"); do
		echo "threads=$threads round $round/$rounds" >&2
		[[ -z "$engine" ]] || measure "$engine" "$gguf" "$threads" "$runs"
		measure "$python" "$here/bench-llm-ref.py" transformers "$gguf" "$threads" "$runs"
		measure "$python" "$here/bench-llm-ref.py" llama_cpp "$gguf" "$threads" "$runs"
	done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in open(sys.argv[1])]
impls = ["engine", "transformers", "llama_cpp"]

def med(impl, threads, key):
    values = [float(r[key]) for r in rows if r["impl"] == impl and r["threads"] == threads]
    return statistics.median(values) if values else None

def cell(value, digits):
    return "—" if value is None else f"{value:.{digits}f}"

def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}×"

threads_seen = sorted({r["threads"] for r in rows}, key=int)
print()
print("| threads | | engine | transformers | llama.cpp | engine / transformers | engine / llama.cpp |")
print("|---|---|---|---|---|---|---|")
for t in threads_seen:
    tokens = next(r["prompt_tokens"] for r in rows if r["threads"] == t)
    for key, label, digits in (("prefill_tok_s", f"prefill ({tokens} tokens), tokens/s", 1),
                               ("decode_tok_s", "decode (64 tokens), tokens/s", 1),
                               ("peak_rss_mib", "peak memory, MiB (lower is better)", 0)):
        e, h, l = (med(i, t, key) for i in impls)
        print(f"| {t} | {label} | {cell(e, digits)} | {cell(h, digits)} | {cell(l, digits)} "
              f"| {ratio(e, h)} | {ratio(e, l)} |")
counts = {i: sum(r["impl"] == i for r in rows) // len(threads_seen) for i in impls}
print(f"\nmedians over {', '.join(f'{n} round(s) of {i}' for i, n in counts.items() if n)} per thread count")
PY

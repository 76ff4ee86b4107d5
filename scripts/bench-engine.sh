#!/usr/bin/env bash
# candle (opg-inference) against PyTorch (CPU) on all-MiniLM-L6-v2, same sentences, same thread
# count, in one run. Not run in CI.
#
#   scripts/bench-engine.sh [THREADS...]        # default: 1 2
#   ROUNDS=5 RUNS=30 scripts/bench-engine.sh 1
#
# For every thread count it alternates ROUNDS times between the Rust example
# (`cargo run -p opg-inference --example bench --release -- THREADS RUNS`) and
# `scripts/bench-minilm-torch.py` (each reports the median of RUNS single-sentence runs and of a
# few batch-of-32 runs), then prints the median over the rounds, the candle/PyTorch latency
# ratios, achieved GFLOP/s (`BertShape::flops`: the layers' and attention's matrix products) and
# the peak of a 512³ f32 matrix product through each library at that thread count. The CPU-time
# row (user + system of all threads, per sentence) is the fair one-thread comparison on a
# machine that other processes keep busy; wall times need an idle machine.
#
# PyTorch and sentence-transformers come from PyPI (the default index) into
# ~/.cache/opg-chain/venv; the model from scripts/fetch-test-models.sh. The machine should be
# otherwise idle: check `uptime`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opg-chain/target-engine}"
rounds="${ROUNDS:-5}"
runs="${RUNS:-30}"
threads_list=("$@")
[[ ${#threads_list[@]} -gt 0 ]] || threads_list=(1 2)

venv="${OPG_VENV:-$HOME/.cache/opg-chain/venv}"
if ! "$venv/bin/python" -c 'import torch, sentence_transformers' 2>/dev/null; then
	echo "installing torch and sentence-transformers into $venv (PyPI)" >&2
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet torch sentence-transformers >&2
fi
OPG_MINILM_DIR="${OPG_MINILM_DIR:-$(bash "$here/fetch-test-models.sh")}"
export OPG_MINILM_DIR

echo "building the example (release)" >&2
(cd "$repo" && cargo build --quiet --release -p opg-inference --example bench >&2)
bench="$CARGO_TARGET_DIR/release/examples/bench"

echo "load: $(uptime)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "torch: $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"

results="$(mktemp)"
for threads in "${threads_list[@]}"; do
	for round in $(seq "$rounds"); do
		echo "threads=$threads round $round/$rounds" >&2
		"$bench" "$threads" "$runs" | grep '^RESULT' >>"$results"
		"$venv/bin/python" "$here/bench-minilm-torch.py" "$OPG_MINILM_DIR" "$threads" "$runs" 2>/dev/null |
			grep '^RESULT' >>"$results"
	done
done

# What a CPU without AVX-512, or without FMA (emulated in the portable path), pays: the same bits,
# one thread, a few runs (the portable path takes minutes for the batches).
paths_results="$(mktemp)"
trap 'rm -f "$results" "$paths_results"' EXIT
for path in ${PATHS-avx2 portable}; do
	echo "kernel path $path, 1 thread" >&2
	"$bench" 1 "${PATH_RUNS:-1}" "$path" | grep '^RESULT' >>"$paths_results"
done

python3 - "$results" "$paths_results" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    rows.append(fields)

def med(impl, threads, key):
    return statistics.median(float(r[key]) for r in rows if r["impl"] == impl and r["threads"] == threads)

threads_seen = sorted({r["threads"] for r in rows}, key=int)
print()
print("| threads | | candle | PyTorch | candle / PyTorch |")
print("|---|---|---|---|---|")
for t in threads_seen:
    r = next(r for r in rows if r["threads"] == t)
    for key, label in (("one_ms", f"1 sentence ({r['tokens']} tokens), ms"),
                       ("one_cpu_ms", "1 sentence, CPU ms (all threads)"),
                       ("batch_ms", f"batch of {r['batch']} ({r['padded']} tokens padded), ms")):
        c, p = med("candle", t, key), med("torch", t, key)
        print(f"| {t} | {label} | {c:.2f} | {p:.2f} | {c / p:.2f}× |")
    for key, label in (("one_gflops", "GFLOP/s, 1 sentence"), ("batch_gflops", "GFLOP/s, batch"),
                       ("peak_gflops", "peak GFLOP/s (512³ matmul)")):
        c, p = med("candle", t, key), med("torch", t, key)
        print(f"| {t} | {label} | {c:.1f} | {p:.1f} | |")
    print(f"| {t} | demo MLP, inferences/s (one per run) | {med('candle', t, 'mlp_per_s'):.0f} | | |")
print(f"\nmedians over {len(rows) // (2 * len(threads_seen))} round(s) per side and thread count")
native = {r["path"]: r for r in rows if r["impl"] == "candle" and r["threads"] == "1"}
paths = [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in open(sys.argv[2])]
if paths and native:
    base_path = next(iter(native))
    one, batch = med("candle", "1", "one_ms"), med("candle", "1", "batch_ms")
    print(f"\n| kernel path (1 thread) | 1 sentence, ms | batch, ms | vs {base_path} |")
    print("|---|---|---|---|")
    print(f"| {base_path} (this CPU's) | {one:.2f} | {batch:.1f} | 1.00× / 1.00× |")
    for r in paths:
        o, b = float(r["one_ms"]), float(r["batch_ms"])
        print(f"| {r['path']} | {o:.2f} | {b:.1f} | {o / one:.2f}× / {b / batch:.2f}× |")
PY

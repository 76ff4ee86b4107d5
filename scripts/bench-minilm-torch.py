#!/usr/bin/env python3
"""PyTorch (CPU) latency of all-MiniLM-L6-v2 on the sentences of
`cargo run -p opg-inference --example bench --release -- THREADS [RUNS]`
(inference/benches/sentences.txt), for a side-by-side ratio; scripts/bench-engine.sh runs both.

~/.cache/opg-chain/venv/bin/python scripts/bench-minilm-torch.py "$(scripts/fetch-test-models.sh)" THREADS [RUNS]

Prints a `RESULT` line in the format of the Rust example: single-sentence and batch-of-32 medians
(tokenisation, pooling and normalisation included, as in the engine), GFLOP/s counted like
`BertShape::flops` (the matrix products of the layers and attention), and the peak of a 512³
float32 matrix product through torch at the same thread count.
"""
import json
import os
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer, models

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "..", "inference", "benches", "sentences.txt")) as f:
    SENTENCES = [line.strip() for line in f if line.strip()]
SENTENCE = SENTENCES[0]

model_dir = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 30
torch.set_num_threads(threads)
word = models.Transformer(model_dir, max_seq_length=256)
pooling = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
model = SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu")
with open(os.path.join(model_dir, "config.json")) as f:
    config = json.load(f)


def flops(batch, tokens):
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    return (8 * tokens * h * h + 4 * tokens * h * i + 4 * tokens * tokens * h) * layers * batch


tokenizer = word.tokenizer
tokens = len(tokenizer(SENTENCE)["input_ids"])
padded = max(len(tokenizer(s)["input_ids"]) for s in SENTENCES)

with torch.inference_mode():
    model.encode([SENTENCE])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.encode([SENTENCE])
        times.append(time.perf_counter() - start)
    one = statistics.median(times)
    # CPU time per sentence (all threads), like the Rust example's /proc/self/stat reading.
    cpu_runs = max(1, runs * 4)
    cpu_start = time.process_time()
    for _ in range(cpu_runs):
        model.encode([SENTENCE])
    cpu_one = (time.process_time() - cpu_start) / cpu_runs
    model.encode(SENTENCES, batch_size=len(SENTENCES))
    times = []
    for _ in range(max(3, -(-runs // 5))):
        start = time.perf_counter()
        model.encode(SENTENCES, batch_size=len(SENTENCES))
        times.append(time.perf_counter() - start)
    batch = statistics.median(times)
    a = torch.ones(512, 512)
    a @ a
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    peak = 2 * 512**3 / best / 1e9

print(f"torch {torch.__version__}, {threads} thread(s)")
print(f"MiniLM, 1 sentence ({tokens} tokens): median {one * 1e3:.3f} ms")
print(f"MiniLM, batch of {len(SENTENCES)} ({padded} tokens padded): median {batch * 1e3:.3f} ms")
print(
    f"RESULT impl=torch threads={threads} tokens={tokens} one_ms={one * 1e3:.3f} "
    f"one_cpu_ms={cpu_one * 1e3:.3f} "
    f"batch={len(SENTENCES)} padded={padded} batch_ms={batch * 1e3:.3f} "
    f"one_gflops={flops(1, tokens) / one / 1e9:.2f} "
    f"batch_gflops={flops(len(SENTENCES), padded) / batch / 1e9:.2f} peak_gflops={peak:.1f}"
)

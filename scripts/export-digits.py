#!/usr/bin/env python3
"""Exports scikit-learn's bundled `load_digits` data set (1797 8x8 images of handwritten digits,
UCI ML hand-written digits, shipped inside the scikit-learn package) to the compact binary file
inference/data/digits.bin used to train and test the demo MLP: one record of 65 bytes per sample,
64 pixel values (0..=16) then the label (0..=9).

Run once (the file is committed): ~/.cache/opg-chain/venv/bin/python scripts/export-digits.py
"""
import os

from sklearn.datasets import load_digits

def main() -> None:
    digits = load_digits()
    out = os.path.join(os.path.dirname(__file__), "..", "inference", "data", "digits.bin")
    with open(out, "wb") as f:
        for pixels, label in zip(digits.data, digits.target):
            f.write(bytes(int(p) for p in pixels) + bytes([int(label)]))
    print(f"wrote {len(digits.target)} samples to {out}")

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Prefill and decode speed of SmolLM2-135M-Instruct (Q4_1 GGUF) in a reference implementation,
for a side-by-side ratio with the engine; scripts/bench-llm.sh runs all of them.

    ~/.cache/opg-chain/venv/bin/python scripts/bench-llm-ref.py MODE GGUF THREADS RUNS

MODE is `transformers` (the GGUF dequantized to float32, PyTorch on the CPU) or `llama_cpp`
(llama-cpp-python on the quantized weights). On the fixed chat prompt below (rendered with the
GGUF's chat template, about 100 tokens, batch 1), each run, after one unmeasured warm-up run:

- prefill: one forward over the whole prompt from an empty KV cache; tokens/s = prompt tokens /
  its time. Its logits give the first new token.
- decode: 64 forwards of one token each with the KV cache, greedy (argmax), not stopping at EOS;
  tokens/s = 64 / their time.

Prints the median over RUNS of both, and the process's peak resident memory after the runs
(`ru_maxrss`, which for transformers includes dequantizing the GGUF), as one line:

    RESULT impl=<transformers|llama_cpp> threads=T prompt_tokens=N prefill_tok_s=X decode_tok_s=Y peak_rss_mib=Z

The packages come from PyPI into ~/.cache/opg-chain/venv: torch, transformers, accelerate, gguf
for `transformers`; llama-cpp-python (compiled from source for this CPU, without the AMX kernels
that crash on this model: install it as scripts/bench-llm.sh does) for `llama_cpp`.
"""
import inspect
import os
import resource
import statistics
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"

DECODE_TOKENS = 64

MESSAGES = [
    {
        "role": "system",
        "content": "You are a careful technical writer. Answer in plain English, in short paragraphs, "
        "without lists.",
    },
    {
        "role": "user",
        "content": "A network of validators runs a small language model for its users. Each "
        "validator computes the same answer from the same prompt, and the network only accepts an "
        "answer when the validators agree on every token. Explain why the order of floating point "
        "additions matters for this, and what a validator has to fix so that its results match "
        "the others exactly.",
    },
]


def render_prompt(gguf: str) -> str:
    """The chat prompt rendered with the GGUF's own template (read with the gguf package, so
    llama_cpp mode needs neither torch nor transformers)."""
    import gguf as gguf_py
    import jinja2

    reader = gguf_py.GGUFReader(gguf)
    template = reader.fields["tokenizer.chat_template"].contents()
    # As transformers renders it (apply_chat_template).
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=MESSAGES, add_generation_prompt=True)


def bench_transformers(gguf: str, threads: int, runs: int) -> tuple[int, list[float], list[float]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    directory, name = os.path.split(os.path.abspath(gguf))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval()
    rendered = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert rendered == render_prompt(gguf)
    prompt = torch.tensor([tokenizer(rendered, add_special_tokens=False).input_ids])

    # transformers 5.24 renamed `past_key_values` to `cache` (the old name warns until 5.40).
    cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def run() -> tuple[float, float]:
        with torch.inference_mode():
            start = time.perf_counter()
            out = model(prompt, use_cache=True)
            prefill = time.perf_counter() - start
            cache, token = getattr(out, cache_name), int(torch.argmax(out.logits[0, -1]))
            start = time.perf_counter()
            for _ in range(DECODE_TOKENS):
                out = model(torch.tensor([[token]]), use_cache=True, **{cache_name: cache})
                cache, token = getattr(out, cache_name), int(torch.argmax(out.logits[0, -1]))
            decode = time.perf_counter() - start
        return prefill, decode

    return prompt.shape[1], *measure(run, runs)


def bench_llama_cpp(gguf: str, threads: int, runs: int) -> tuple[int, list[float], list[float]]:
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(
        model_path=gguf,
        n_threads=threads,
        n_threads_batch=threads,
        n_ctx=512,
        n_batch=512,
        verbose=False,
    )
    prompt = llm.tokenize(render_prompt(gguf).encode(), add_bos=False, special=True)
    n_vocab = llm.n_vocab()

    def last_logits():
        # Llama.eval() keeps no logits unless logits_all=True (which computes them for every
        # prompt token): read the last position's from the context.
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))

    def run() -> tuple[float, float]:
        # reset() rewinds to an empty context; eval() drops the KV cache past that point.
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        prefill = time.perf_counter() - start
        token = int(np.argmax(last_logits()))
        start = time.perf_counter()
        for _ in range(DECODE_TOKENS):
            llm.eval([token])
            token = int(np.argmax(last_logits()))
        decode = time.perf_counter() - start
        return prefill, decode

    return len(prompt), *measure(run, runs)


def measure(run, runs: int) -> tuple[list[float], list[float]]:
    run()  # warm-up: first-touch of the weights and the cache, thread pools
    prefills, decodes = [], []
    for _ in range(runs):
        prefill, decode = run()
        prefills.append(prefill)
        decodes.append(decode)
    return prefills, decodes


def main() -> None:
    if len(sys.argv) != 5 or sys.argv[1] not in ("transformers", "llama_cpp"):
        sys.exit(f"usage: {sys.argv[0]} transformers|llama_cpp GGUF THREADS RUNS")
    mode, gguf, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    bench = bench_transformers if mode == "transformers" else bench_llama_cpp
    prompt_tokens, prefills, decodes = bench(gguf, threads, runs)
    print(f"{mode}: {prompt_tokens} prompt tokens, {DECODE_TOKENS} decoded, {runs} runs", file=sys.stderr)
    prefill_tok_s = prompt_tokens / statistics.median(prefills)
    decode_tok_s = DECODE_TOKENS / statistics.median(decodes)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"RESULT impl={mode} threads={threads} prompt_tokens={prompt_tokens} "
        f"prefill_tok_s={prefill_tok_s:.1f} decode_tok_s={decode_tok_s:.1f} peak_rss_mib={peak_rss_mib:.0f}"
    )


if __name__ == "__main__":
    main()

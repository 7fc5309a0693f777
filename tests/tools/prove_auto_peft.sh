#!/usr/bin/env bash
# Proof that peft's AutoPeftModelForCausalLM.from_pretrained(adapter) loads our PEFT exports
# without being told the base (base_model_id.h): ref/models/llama3-tiny is trained for a few
# steps twice, once opened from a Hugging Face cache (as `qlora download` or transformers leave
# it: models--ORG--NAME/snapshots/REV) and once from a plain folder; each run's adapter is
# exported with `qlora export --peft` and tests/tools/check_auto_peft.py loads it offline
# (HF_HUB_OFFLINE=1, HF_HOME = that cache), expecting the Hub ID and the absolute path.
#
#   prove_auto_peft.sh QLORA_BIN [PYTHON]
# PYTHON needs torch, transformers and peft (pip install torch transformers peft).
set -euo pipefail
qlora=$(realpath "$1")
python=${2:-python3}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
model=$repo/../shared/fixtures/ref/models/llama3-tiny
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=(config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json)

rev=0123456789abcdef0123456789abcdef01234567
snapshot=$work/hf/hub/models--qls-proof--llama3-tiny/snapshots/$rev
local=$work/models/llama3-tiny
mkdir -p "$snapshot" "$local" "$work/hf/hub/models--qls-proof--llama3-tiny/refs"
echo -n "$rev" > "$work/hf/hub/models--qls-proof--llama3-tiny/refs/main"
for f in "${files[@]}"; do cp "$model/$f" "$snapshot/"; cp "$model/$f" "$local/"; done

status=0
for base in "$snapshot" "$local"; do
    name=$([[ $base == "$snapshot" ]] && echo hub || echo local)
    "$qlora" train --model "$base" --data "$repo/resources/demo/data/pirate_fortunes_train.jsonl" --template alpaca \
        --max-steps 3 --max-seq-len 256 --lr 1e-2 --eval-every 0 --out "$work/run-$name" > /dev/null 2>&1
    "$qlora" export "$work/run-$name" --peft --out "$work/adapter-$name" > /dev/null
    want=$([[ $name == hub ]] && echo qls-proof/llama3-tiny || echo "$local")
    HF_HOME=$work/hf HF_HUB_OFFLINE=1 "$python" "$repo/tests/tools/check_auto_peft.py" "$work/adapter-$name" "$want" "$base" ||
        status=1
done
exit $status

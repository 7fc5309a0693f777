#!/usr/bin/env bash
# Proof that `qlora export RUN --axolotl DIR` writes what axolotl itself accepts and reads:
#   1. a venv with axolotl from PyPI (torch first: the CPU wheel index, else PyPI's torch, which
#      also runs on the CPU);
#   2. the demo run (README.md's, 4 steps) is trained and exported; a second run.json with every
#      setting away from its default (FP4 without double quant, rsLoRA on q/v/down, packing,
#      train_on_inputs, epochs, linear warm-up ratio, paged optimizer, bf16, early stopping...)
#      over the same data is exported too;
#   3. for each: axolotl's own load_cfg (yaml.safe_load + validate_config + normalize_config)
#      validates config.yml and every run.json setting is compared with the validated value
#      (tests/tools/check_axolotl_config.py), then `axolotl preprocess config.yml` reads and
#      prepares the dataset, whose rows must equal our train.jsonl;
#   4. axolotl trains the demo export for its 4 steps on the CPU, as plain LoRA (bitsandbytes'
#      CPU 4-bit path fails on the demo model's down_proj, 352 inputs: not a multiple of its
#      64-value blocks; axolotl's fused LoRA kernels need CUDA: both are switched off in a copy
#      of the config, nothing else changes), and `qlora generate` opens the adapter it saved.
#
#   prove_axolotl_config.sh QLORA_BIN [VENV_DIR [FIXTURE_DIR]]
# VENV_DIR default: /work/venvs/axolotl. FIXTURE_DIR: where to copy the adapter axolotl saved
# (adapter_config.json, adapter_model.safetensors): tests/fixtures/export/axolotl_adapter was made so.
set -euo pipefail
qlora=$(realpath "$1")
venv=${2:-/work/venvs/axolotl}
fixture=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AXOLOTL_DO_NOT_TRACK=1 HF_HUB_OFFLINE=1
model="$repo/resources/demo/model"
data="$repo/resources/demo/data"

if ! "$venv/bin/python" -c "import axolotl" 2> /dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install torch --index-url https://download.pytorch.org/whl/cpu || "$venv/bin/pip" install torch
    "$venv/bin/pip" install axolotl
fi
py="$venv/bin/python"
export PATH="$venv/bin:$PATH"  # axolotl train starts `accelerate` from PATH
echo "axolotl $("$py" -c 'import importlib.metadata as m; print(m.version("axolotl"))'), torch $("$py" -c 'import torch; print(torch.__version__)')"

echo "== the demo run, exported"
"$qlora" train --model "$model" --data "$data/pirate_fortunes_train.jsonl" \
    --valid-data "$data/pirate_fortunes_valid.jsonl" --out "$work/pirate" --max-steps 4 --eval-every 2 \
    --lr 1e-3 --rank 8 --alpha 16 --micro-batch 8 --max-seq-len 128 --schedule cosine --warmup-steps 2 > "$work/train.log"
"$qlora" export "$work/pirate" --axolotl "$work/pirate-axolotl"

echo "== a run.json with every setting changed, over the same data, exported"
mkdir "$work/busy"
"$py" - "$work/pirate/run.json" "$work/busy/run.json" << 'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
c = run["config"]
c["base"].update(quant="fp4", double_quant=False)
c["lora"].update(r=12, alpha=24, dropout=0.1, rslora=True, target_modules=["q_proj", "v_proj", "down_proj"], seed=7)
c["data"].update(packing=True, train_on_inputs=True, max_seq_len=96)
c["optim"].update(learning_rate=3e-5, adam_beta1=0.85, adam_beta2=0.98, adam_eps=1e-6, weight_decay=0.01,
                  max_grad_norm=0.7, schedule="linear", warmup_steps=0, warmup_ratio=0.1,
                  optimizer_budget_bytes=1 << 20)
c.update(micro_batch=3, grad_accum=5, epochs=2.0, max_steps=0, seed=7, compute_dtype="bf16",
         gradient_checkpointing=False, eval_every=25, save_every=40, keep_checkpoints=3, early_stop_patience=4)
json.dump(run, open(sys.argv[2], "w"), indent=2)
EOF
"$qlora" export "$work/busy" --axolotl "$work/busy-axolotl"

for name in pirate busy; do
    echo "== axolotl validates $name-axolotl/config.yml and prepares its dataset"
    (cd "$work/$name-axolotl" && "$venv/bin/axolotl" preprocess config.yml > "$work/$name-preprocess.log" 2>&1) ||
        { tail -40 "$work/$name-preprocess.log"; exit 1; }
    grep -o "Success! Preprocessed data path.*" "$work/$name-preprocess.log"
    "$py" "$here/check_axolotl_config.py" "$work/$name" "$work/$name-axolotl" \
        --prepared "$work/$name-axolotl/last_run_prepared" 2>&1 | grep -E "^(axolotl validated|  ok|FAIL|PASS)"
done
echo "== differences the busy export lists in its README"
sed -n '/^## Differences/,/^## Back/p' "$work/busy-axolotl/README.md" | grep '^- '

echo "== axolotl trains the demo export on the CPU (plain LoRA, fused kernels off)"
cd "$work/pirate-axolotl"
sed -e 's/^adapter: "qlora"/adapter: "lora"/' -e 's/^load_in_4bit: true/load_in_4bit: false/' \
    -e 's/^bf16: "auto"/bf16: false/' config.yml > cpu.yml
printf 'lora_mlp_kernel: false\nlora_qkv_kernel: false\nlora_o_kernel: false\nlora_embedding_kernel: false\n' >> cpu.yml
"$venv/bin/axolotl" train cpu.yml > "$work/axolotl-train.log" 2>&1 || { tail -40 "$work/axolotl-train.log"; exit 1; }
grep -o "{'loss': '[^']*'" "$work/axolotl-train.log" | tr '\n' ' '
echo
ls outputs/adapter/adapter_config.json outputs/adapter/adapter_model.safetensors
if [ -n "$fixture" ]; then
    mkdir -p "$fixture"
    cp outputs/adapter/adapter_config.json outputs/adapter/adapter_model.safetensors "$fixture/"
fi
echo "== the studio opens axolotl's adapter"
"$qlora" generate "$model" --adapter outputs/adapter --chat --prompt "Tell me a fortune about love." --max-tokens 16
echo "PROVED"

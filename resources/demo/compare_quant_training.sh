#!/usr/bin/env bash
# NF4 vs FP4 vs 16-bit base: the same LoRA run (seed, data, hyperparameters) three times on the
# demo model, printing each run's mean training loss over its last 20 steps and its final
# validation loss. Usage: resources/demo/compare_quant_training.sh [QLORA_BINARY] [STEPS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
qlora=${1:-$here/../../build/bin/qlora}
steps=${2:-200}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for quant in none nf4 fp4; do
  "$qlora" train --model "$here/model" --data "$here/data/pirate_fortunes_train.jsonl" \
    --valid-data "$here/data/pirate_fortunes_valid.jsonl" --out "$out/$quant" --quant "$quant" \
    --max-steps "$steps" --eval-every 0 --save-every 0 --lr 1e-3 --rank 8 --alpha 16 \
    --micro-batch 8 --max-seq-len 128 --seed 0 > "$out/$quant.log" 2>&1
  python3 - "$out/$quant/metrics.jsonl" "$quant" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r["loss"] for r in rows if r["type"] == "step"]
valid = [r["loss"] for r in rows if r["type"] == "eval"]
print(f"{sys.argv[2]:>5}: train loss (last 20 steps) {sum(train[-20:]) / 20:.4f}, "
      f"final validation loss {valid[-1]:.4f}")
open(sys.argv[1] + ".losses", "w").write("\n".join(map(str, train)))
PY
done
python3 - "$out" <<'PY'
import sys
base = [float(x) for x in open(f"{sys.argv[1]}/none/metrics.jsonl.losses")]
for q in ("nf4", "fp4"):
    other = [float(x) for x in open(f"{sys.argv[1]}/{q}/metrics.jsonl.losses")]
    gap = sum(abs(a - b) for a, b in zip(base, other)) / len(base)
    print(f"{q:>5}: mean |loss - 16-bit loss| over {len(base)} steps {gap:.4f}")
PY

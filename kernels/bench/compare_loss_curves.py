#!/usr/bin/env python3
"""The demo run's loss curve on the GPU beside the CPU twin's (kernels/bench/gpu_check.sh).

usage: compare_loss_curves.py CPU_BF16_RUN CPU_FP32_RUN GPU_BF16_RUN

Prints the training loss (mean over windows of 20 steps) and every validation loss of the three
runs. Two bf16 runs of the same seed and data cannot stay equal step for step: each rounds its
sums in its own order, and 200 steps of training amplify those differences. What scale of
difference is "tracking" is measured, not chosen: the CPU's own bf16 run against its fp32 run
(same seed) shows how far bf16 rounding alone moves the curve. The GPU's bf16 curve must stay
within twice that of the CPU's bf16 curve at every window and validation (the triangle
inequality, with the GPU's rounding noise allowed as large as the CPU's), plus 1% for the
windows where the two CPU curves happen to cross. Exit 1 when it does not.
"""
import json
import sys


def read(run):
    steps, evals = {}, {}
    with open(f"{run}/metrics.jsonl") as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == "step":
                steps[r["step"]] = r["loss"]
            elif r.get("type") == "eval":
                evals[r["step"]] = r["loss"]
    return steps, evals


def windows(steps, width=20):
    out = {}
    last = max(steps)
    for end in range(width, last + 1, width):
        vals = [steps[s] for s in range(end - width + 1, end + 1) if s in steps]
        out[end] = sum(vals) / len(vals)
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    cpu, wide, gpu = (read(r) for r in sys.argv[1:])
    ok = True
    print(f"{'steps':>9} {'CPU bf16':>9} {'CPU fp32':>9} {'GPU bf16':>9} {'|GPU-CPU|':>10} {'allowed':>9}")
    rows = [("train", windows(cpu[0]), windows(wide[0]), windows(gpu[0])), ("valid", cpu[1], wide[1], gpu[1])]
    for kind, c, w, g in rows:
        for step in sorted(c):
            if step not in g or step not in w:
                print(f"{kind} step {step}: missing from a run")
                ok = False
                continue
            diff = abs(g[step] - c[step])
            allowed = 2 * abs(c[step] - w[step]) + 0.01 * abs(c[step])
            flag = "" if diff <= allowed else "  <-- off"
            ok &= diff <= allowed
            label = f"{step - 19}-{step}" if kind == "train" else f"val {step}"
            print(f"{label:>9} {c[step]:9.4f} {w[step]:9.4f} {g[step]:9.4f} {diff:10.4f} {allowed:9.4f}{flag}")
    print("the GPU's curve tracks the CPU twin's" if ok else "the GPU's curve leaves the CPU twin's")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

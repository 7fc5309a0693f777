#!/usr/bin/env python3
"""Our engine's CPU training tokens/s alone (no torch), from a run's metrics.jsonl.

Runs, --repeats times per thread count (threads interleaved: 1 2 1 2 ...):

    QLS_THREADS=N qlora train --model M --data DATA --out RUN --max-steps 14 --eval-every 0
        --save-every 0 --rank 8 --micro-batch 8 --max-seq-len 128 [EXTRA...]

and reports, over steps --first..--last (default 5..14):
    total  = sum(tokens) / (elapsed_s[last] - elapsed_s[first - 1])   (the headline figure)
    median = median of the per-step tokens_per_s
`tokens` counts the batch's non-padding tokens (rows are not packed here, so it varies per step).
The base is the trainer's default (--quant nf4) unless EXTRA says otherwise.

    python tests/bench/ours_tokens_per_s.py --qlora build/bin/qlora --model resources/demo/model \\
        --data resources/demo/data/pirate_fortunes_train.jsonl --threads 1 2 --repeats 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The load helpers of the side-by-side script beside this one (it imports torch lazily).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_train_vs_torch import cpu_busy_s, wait_idle  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qlora", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=14)
    p.add_argument("--first", type=int, default=5, help="first measured step (1-based)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--max-seq-len", type=int, default=128)
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--wait-idle", type=float, default=0, metavar="S",
                   help="before each run, wait up to S seconds until the machine is idle (>= 90%% of every core) for 5 s")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("extra", nargs="*", help="more `qlora train` options, after --")
    a = p.parse_args()
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="qls_ours_"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rep in range(a.repeats):
        for n in a.threads:
            out = workdir / f"run_t{n}_{rep}"
            if out.exists():
                shutil.rmtree(out)
            cmd = [str(a.qlora), "train", "--model", str(a.model), "--data", str(a.data), "--out", str(out),
                   "--max-steps", str(a.max_steps), "--eval-every", "0", "--save-every", "0", "--rank", str(a.rank),
                   "--micro-batch", str(a.micro_batch), "--max-seq-len", str(a.max_seq_len), *a.extra]
            wait_idle(a.wait_idle)
            busy0, wall0, own0 = cpu_busy_s(), time.perf_counter(), os.times()
            r = subprocess.run(cmd, env=dict(os.environ, QLS_THREADS=str(n)), capture_output=True, text=True)
            busy1, wall1, own1 = cpu_busy_s(), time.perf_counter(), os.times()
            if r.returncode != 0:
                sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            own = (own1.children_user + own1.children_system) - (own0.children_user + own0.children_system)
            steps = sorted((json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines() if l.strip()),
                           key=lambda s: s.get("step", 0))
            steps = {s["step"]: s for s in steps if s.get("type") == "step"}
            meas = [steps[i] for i in range(a.first, a.max_steps + 1)]
            span = steps[a.max_steps]["elapsed_s"] - steps[a.first - 1]["elapsed_s"]
            res = {"threads": n, "rep": rep, "total_tokens_per_s": sum(s["tokens"] for s in meas) / span,
                   "median_tokens_per_s": statistics.median(s["tokens_per_s"] for s in meas),
                   "tokens": sum(s["tokens"] for s in meas), "seconds": span,
                   "others_cores": max(0.0, (busy1 - busy0 - own) / (wall1 - wall0))}
            if "host_syncs" in meas[0]:
                res["host_syncs_per_step"] = statistics.median(s["host_syncs"] for s in meas)
            results.append(res)
            print(f"{a.model.name:<24} threads {n} rep {rep}: {res['total_tokens_per_s']:8.1f} tok/s total "
                  f"(median step {res['median_tokens_per_s']:8.1f}) over steps {a.first}-{a.max_steps}, "
                  f"others {res['others_cores']:.2f} cores", flush=True)
        if rep == 0:
            print("  command:", f"QLS_THREADS=N", " ".join(cmd))
    if a.json:
        a.json.write_text(json.dumps({"model": str(a.model), "qlora": str(a.qlora), "results": results}, indent=1))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks a run's TensorBoard event files with tensorboard's own reader: every scalar that
metrics.jsonl has must be in <run>/tensorboard/ with the same value (as the float32 the event
file holds). Outside the test suite (test_tensorboard reads the files with its own reader),
because it needs the tensorboard package:

    python3 -m venv /tmp/tbvenv && /tmp/tbvenv/bin/pip install tensorboard
    build/bin/qlora train --model resources/demo/model \
        --data resources/demo/data/pirate_fortunes_train.jsonl \
        --valid-data resources/demo/data/pirate_fortunes_valid.jsonl \
        --max-steps 20 --eval-every 10 --out /tmp/tbrun
    /tmp/tbvenv/bin/python tests/tools/check_tensorboard.py /tmp/tbrun

Exits 1 when a value differs or is missing.
"""
import json
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

# metrics.jsonl (line type, key) -> TensorBoard tag
COMPARED = [
    ("step", "loss", "train/loss"),
    ("step", "lr", "train/lr"),
    ("step", "grad_norm", "train/grad_norm"),
    ("step", "tokens_per_s", "train/tokens_per_s"),
    ("step", "trained_tokens", "train/trained_tokens"),
    ("step", "epoch", "train/epoch"),
    ("step", "loss_scale", "train/loss_scale"),
    ("eval", "loss", "eval/loss"),
    ("eval", "perplexity", "eval/perplexity"),
]


def as_float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main(run):
    folder = os.path.join(run, "tensorboard")
    print("event files:", ", ".join(sorted(os.listdir(folder))))
    acc = EventAccumulator(folder, size_guidance={SCALARS: 0})  # 0: keep every point
    acc.Reload()
    tags = acc.Tags()["scalars"]
    print(f"{len(tags)} scalar tags: {', '.join(sorted(tags))}")

    metrics = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl")) if line.strip()]
    failed = False
    for kind, key, tag in COMPARED:
        want = {m["step"]: as_float32(m[key]) for m in metrics if m["type"] == kind}
        # A resumed session's file comes later and trains the rewound steps again: its value wins,
        # as metrics.jsonl keeps only the resumed session's lines for them.
        got = {}
        for e in (acc.Scalars(tag) if tag in tags else []):
            got[e.step] = e.value
        bad = [s for s in want if got.get(s) != want[s]]
        failed |= bool(bad) or not want
        print(f"{tag:22} {len(want):3} points in metrics.jsonl, {len(got):3} in TensorBoard: "
              f"{'OK' if want and not bad else 'MISMATCH at steps ' + str(bad[:5])}")
    print("FAILED" if failed else "all scalars match metrics.jsonl")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} RUN_FOLDER")
    sys.exit(main(sys.argv[1]))

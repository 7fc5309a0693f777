"""Validates an `qlora export RUN --axolotl DIR` folder with axolotl's own code and checks that the
validated config carries the run's settings.

    python check_axolotl_config.py RUN_DIR EXPORT_DIR

1. axolotl.cli.config.load_cfg(EXPORT_DIR/config.yml): yaml.safe_load, then axolotl's pydantic
   validation (validate_config) and normalize_config, exactly what `axolotl train` does first.
2. Every setting of RUN_DIR/run.json is compared with the validated config's value, mapped here
   independently of the C++ exporter (axolotl's key names from src/axolotl/utils/schemas/).
3. With --prepared DIR (the folder `axolotl preprocess` wrote under dataset_prepared_path): the
   dataset axolotl prepared holds exactly the rows of train.jsonl (input_ids, labels), in any order.
Exits non-zero on the first mismatch.
"""
import argparse
import glob
import json
import math
import os
import sys


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def expect(cfg, key, want):
    got = cfg.get(key)
    if isinstance(want, float) or isinstance(got, float):
        # The YAML holds each double's shortest round-trip form; a value this checker derives
        # itself (a product, a ratio) may differ from C++'s in the last bits: 1e-12 relative is
        # thousands of doubles' ulps (2.2e-16) and far below any setting's meaningful precision.
        ok = got is not None and abs(float(got) - float(want)) <= 1e-12 * max(1.0, abs(float(want)))
    else:
        ok = got == want
    if not ok:
        fail(f"{key}: axolotl's validated config has {got!r}, the run had {want!r}")
    print(f"  ok  {key} = {got!r}")


def check_settings(run, cfg):
    c = run["config"]
    base, lora, data, optim = c["base"], c["lora"], c["data"], c["optim"]
    if base["quant"] == "none":
        expect(cfg, "adapter", "lora")
    else:
        expect(cfg, "adapter", "qlora")
        expect(cfg, "load_in_4bit", True)
        bnb = cfg.get("bnb_config_kwargs") or {}
        expect(bnb, "bnb_4bit_quant_type", base["quant"])
        expect(bnb, "bnb_4bit_use_double_quant", base["double_quant"])
    expect(cfg, "lora_r", lora["r"])
    expect(cfg, "lora_alpha", int(round(lora["alpha"])))
    expect(cfg, "lora_dropout", lora["dropout"])
    expect(cfg, "lora_target_modules", lora["target_modules"])
    expect(cfg, "peft_use_rslora", True if lora["rslora"] else None)
    expect(cfg, "sequence_len", data["max_seq_len"])
    expect(cfg, "sample_packing", data["packing"])
    expect(cfg, "train_on_inputs", data["train_on_inputs"])
    expect(cfg, "micro_batch_size", c["micro_batch"])
    expect(cfg, "gradient_accumulation_steps", c["grad_accum"])
    if c["max_steps"] > 0:
        expect(cfg, "max_steps", c["max_steps"])
    else:
        expect(cfg, "num_epochs", c["epochs"])
    expect(cfg, "learning_rate", optim["learning_rate"])
    warm = optim["warmup_steps"] > 0 or optim["warmup_ratio"] > 0
    sched = {"cosine": "cosine", "linear": "linear",
             "constant": "constant_with_warmup" if warm else "constant"}[optim["schedule"]]
    expect(cfg, "lr_scheduler", sched)
    # HF (and the run): warmup_steps, else ceil(total x warmup_ratio).
    if optim["warmup_steps"] > 0:
        expect(cfg, "warmup_steps", optim["warmup_steps"])
    elif optim["warmup_ratio"] > 0 and c["max_steps"] == 0:
        expect(cfg, "warmup_ratio", optim["warmup_ratio"])
    else:
        expect(cfg, "warmup_steps", math.ceil(optim["warmup_ratio"] * c["max_steps"]))
    expect(cfg, "optimizer", "paged_adamw_32bit" if optim["optimizer_budget_bytes"] > 0 else "adamw_torch")
    expect(cfg, "adam_beta1", optim["adam_beta1"])
    expect(cfg, "adam_beta2", optim["adam_beta2"])
    expect(cfg, "adam_epsilon", optim["adam_eps"])
    expect(cfg, "weight_decay", optim["weight_decay"])
    expect(cfg, "max_grad_norm", optim["max_grad_norm"])
    if c["compute_dtype"] in ("bf16", "fp16", "fp32"):
        expect(cfg, "bf16", c["compute_dtype"] == "bf16")
        expect(cfg, "fp16", c["compute_dtype"] == "fp16")
    expect(cfg, "gradient_checkpointing", c["gradient_checkpointing"])
    expect(cfg, "seed", c["seed"])
    # Early stopping (only possible with evaluations every N steps) needs checkpoints at a
    # multiple of N in axolotl; the checkpoint cadence gives way.
    early = c["early_stop_patience"] > 0 and bool(cfg.get("test_datasets")) and c["eval_every"] > 0
    save = c["save_every"]
    if early and (save == 0 or save % c["eval_every"] != 0):
        save = c["eval_every"]
    if save > 0:
        expect(cfg, "save_steps", save)
        expect(cfg, "save_total_limit", c["keep_checkpoints"])
    if cfg.get("test_datasets") and c["eval_every"] > 0:
        expect(cfg, "eval_steps", c["eval_every"])
    expect(cfg, "early_stopping_patience", c["early_stop_patience"] if early else None)
    expect(cfg, "val_set_size", 0.0)


def check_prepared(export_dir, prepared_dir):
    from datasets import load_from_disk

    ours = []
    with open(os.path.join(export_dir, "train.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            ours.append((tuple(r["input_ids"]), tuple(r["labels"])))
    # The train split: the folder whose row count is ours (the test split is prepared beside it).
    for d in sorted(glob.glob(os.path.join(prepared_dir, "*"))):
        try:
            ds = load_from_disk(d)
        except Exception:  # noqa: BLE001 - not a saved dataset
            continue
        if len(ds) != len(ours):
            continue
        theirs = [(tuple(r["input_ids"]), tuple(r["labels"])) for r in ds]
        if sorted(theirs) != sorted(ours):
            fail(f"{d}: axolotl's prepared rows differ from train.jsonl")
        print(f"  ok  axolotl prepared {len(ds)} training rows identical to train.jsonl ({d})")
        return
    fail(f"no prepared dataset of {len(ours)} rows under {prepared_dir}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("export_dir")
    ap.add_argument("--prepared")
    args = ap.parse_args()
    from axolotl.cli.config import load_cfg

    with open(os.path.join(args.run_dir, "run.json")) as f:
        run = json.load(f)
    os.chdir(args.export_dir)  # the config names its files relative to its folder
    cfg = load_cfg("config.yml")
    print(f"axolotl validated and normalized {args.export_dir}/config.yml")
    check_settings(run, cfg)
    if args.prepared:
        check_prepared(args.export_dir, args.prepared)
    print("PASS")


if __name__ == "__main__":
    main()

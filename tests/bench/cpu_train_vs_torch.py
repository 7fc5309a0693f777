#!/usr/bin/env python3
"""CPU training throughput: `qlora train` against torch + transformers + peft, same model, same batches.

What is compared
    One LoRA training step (forward, backward, gradient clipping, AdamW step) on the CPU, fp32 base
    weights on both sides (`--quant none` for us; the GGUF's Q4_1 weights are dequantized to fp32 by
    both loaders), gradient checkpointing on both sides (ours is on by default; torch:
    gradient_checkpointing_enable(use_reentrant=False)), LoRA dropout 0, the same rank, alpha and
    target modules, AdamW lr 2e-4, betas (0.9, 0.999), eps 1e-8, weight decay 0, gradient clipping
    at 0.3 (our default, applied on the torch side too), constant learning rate with no warm-up
    (both sides), loss = mean cross-entropy over every next-token target of the batch.

How the batches are made identical
    `qlora train` takes no pre-tokenized input, so this script writes a plain-text JSONL
    ({"text": ...}, `--form text`) in which every record is longer than --seq-len tokens, and
    reproduces our data pipeline in Python:
      * a text record becomes [BOS if the tokenizer adds one] + tokens(text) + [EOS], cut to the
        first --seq-len tokens (our default over-long policy is "truncate");
      * with --packing, make_rows() packs best-fit-decreasing; every example is already seq_len long,
        so each gets a row of its own, rows in file order (stable sort on equal lengths): every row is
        full, one segment, positions 0..T-1, plain causal attention - exactly what torch computes
        with no attention mask and the default position ids;
      * rows are shuffled per epoch by seeded_permutation(n, mix_seed(seed, epoch)) (Fisher-Yates
        over std::mt19937_64, re-implemented here) and cut into micro-batches of --micro-batch rows.
    The texts are the dataset's own strings (message contents, or the text/instruction/... fields),
    concatenated with newlines and cycled until enough records exist; they are only filler for
    throughput.
    Checks (printed, and in --json):
      * token ids: for every record of the first batch (all records with --check-all-tokens) our
        tokenizer's ids (`qlora tokenize MODEL`, same binary) are compared with the HF tokenizer's;
      * batches: both sides train on the rows from the same reproduced order, and the loss of our
        step 1 (LoRA B = 0, i.e. the base model's loss on that batch) must equal torch's step-1 loss
        (|diff| <= --loss-tol); a wrong order or tokenization shows up as a different loss. The
        per-step losses of later steps are printed as well (they drift slightly apart, as two fp32
        implementations do);
      * ours: metrics.jsonl must report tokens == micro_batch * seq_len and trained_tokens ==
        micro_batch * (seq_len - 1) on every step (full rows).

Timing
    ours : per-step `tokens_per_s` from the run's metrics.jsonl (tokens / wall time of that step,
           measured by the trainer) - we report the MEDIAN over the measured steps (steps after
           --warmup); total tokens / total time over the measured steps (from elapsed_s) is given too.
    torch: time.perf_counter around each whole step (forward + backward + clip + optimizer step +
           zero_grad); tokens/s = micro_batch * seq_len / step time; MEDIAN over the measured steps.
    The two sides run one after the other, never at the same time, --repeats times (A B A B ...);
    each repeat's figures are printed, and the ratio is taken per pair. The torch model is loaded
    once (GGUF dequantization takes ~30 s) and a fresh peft model is built on a copy for each repeat.
    Threads: QLS_THREADS=N for us; torch.set_num_threads(N) (+ OMP/MKL_NUM_THREADS=N) for torch.
    Load: other processes slow both sides, and a 2-thread run suffers badly when one of the 2 cores
    is taken: ours drops to about one core's speed (2x slower), torch's OpenMP barriers wait for a
    descheduled thread (up to 7x slower, seen here). So each step gets the cores OTHER processes used
    while it ran (/proc/stat busy time minus the run's own CPU time; ours is sampled whenever
    metrics.jsonl gains a step line, torch around each step). A step is "quiet" when others used
    <= --quiet cores (default 0.25); the table gives, per repeat, the median over all measured
    steps and the mean load, and a "quiet" row: the median over the quiet steps of all repeats
    pooled, per side, and their ratio - the figure to quote on a shared machine. --wait-idle S waits
    (at most S seconds) before each side until the machine has been idle
    (>= 90% of every core idle) for 5 s. Each step also records the cores the run itself used
    ("own cores"; ~N when it got its N threads).
    Not timed on our side: model loading, data preparation, the end-of-run evaluation (on a
    one-record validation file) and the end-of-run adapter save.

Example
    python tests/bench/cpu_train_vs_torch.py --qlora build/bin/qlora \\
        --model /path/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --data resources/demo/data/pirate_fortunes_train.jsonl \\
        --threads 2 --steps 8 --warmup 2 --micro-batch 2 --seq-len 256 --rank 16 --wait-idle 600
"""
from __future__ import annotations

import argparse
import copy
import warnings
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_NAMES = {
    "q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
    "gate": "gate_proj", "up": "up_proj", "down": "down_proj",
}
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------- our sampler, reproduced in Python

class MT19937_64:
    """std::mt19937_64 (the C++ standard fixes its output)."""

    def __init__(self, seed: int):
        self.mt = [0] * 312
        self.mt[0] = seed & MASK64
        for i in range(1, 312):
            prev = self.mt[i - 1]
            self.mt[i] = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK64
        self.index = 312

    def _twist(self):
        mt = self.mt
        for i in range(312):
            x = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % 312] & 0x7FFFFFFF)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            mt[i] = mt[(i + 156) % 312] ^ xa
        self.index = 0

    def __call__(self) -> int:
        if self.index >= 312:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK64


def _mt_selftest():
    rng = MT19937_64(5489)
    for _ in range(9999):
        rng()
    assert rng() == 9981545732273789042, "mt19937_64 re-implementation is wrong"


def mix_seed(seed: int, value: int) -> int:
    z = (seed + 0x9E3779B97F4A7C15 * (value + 1)) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def seeded_permutation(n: int, seed: int) -> list[int]:
    order = list(range(n))
    rng = MT19937_64(seed)
    for i in range(n, 1, -1):
        limit = MASK64 - MASK64 % i
        while True:
            x = rng()
            if x < limit:
                break
        j = x % i
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def batch_plan(n_rows: int, micro_batch: int, steps: int, seed: int) -> list[list[int]]:
    """Row indices of each step's micro-batch, as BatchSampler::next() hands them out."""
    per_epoch = (n_rows + micro_batch - 1) // micro_batch
    plan, epoch, cursor = [], 0, 0
    order = seeded_permutation(n_rows, mix_seed(seed, epoch))
    for _ in range(steps):
        if cursor >= per_epoch:
            epoch, cursor = epoch + 1, 0
            order = seeded_permutation(n_rows, mix_seed(seed, epoch))
        plan.append(order[cursor * micro_batch:(cursor + 1) * micro_batch])
        cursor += 1
    return plan


# ---------------------------------------------------------------- data

def _strings(value, out: list[str]):
    if isinstance(value, str):
        if value.strip():
            out.append(value)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("role", "from"):
                _strings(v, out)


def dataset_texts(path: Path) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                parts: list[str] = []
                _strings(json.loads(line), parts)
                if parts:
                    texts.append("\n".join(parts))
    if not texts:
        sys.exit(f"no text in {path}")
    return texts


def load_tokenizer(model: Path):
    from transformers import AutoTokenizer
    if model.suffix == ".gguf":
        return AutoTokenizer.from_pretrained(str(model.parent), gguf_file=model.name)
    return AutoTokenizer.from_pretrained(str(model))


def tokenizer_adds_bos(tok) -> bool:
    # as core/data/chat_format.cpp tokenizer_adds_bos (the post-processor adds BOS)
    if tok.bos_token_id is None:
        return False
    with_ = tok("a", add_special_tokens=True)["input_ids"]
    without = tok("a", add_special_tokens=False)["input_ids"]
    return len(with_) > len(without) and with_[0] == tok.bos_token_id


def make_records(tok, texts: list[str], n_rows: int, seq_len: int, add_bos: bool) -> tuple[list[str], list[list[int]]]:
    """n_rows texts, each longer than seq_len tokens, and their first seq_len ids as our trainer cuts them."""
    records, rows, k = [], [], 0
    lengths = {}
    for _ in range(n_rows):
        parts, n = [], 0
        while n < seq_len + 8:
            t = texts[k % len(texts)]
            k += 1
            if t not in lengths:
                lengths[t] = len(tok(t, add_special_tokens=False)["input_ids"]) + 1
            parts.append(t)
            n += lengths[t]
        text = "\n".join(parts)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        full = ([tok.bos_token_id] if add_bos else []) + ids + [tok.eos_token_id]
        if len(full) <= seq_len:
            sys.exit("internal: a record is not longer than seq_len")
        records.append(text)
        rows.append(full[:seq_len])
    return records, rows


def our_token_ids(qlora: Path, model: Path, text: str) -> list[int]:
    r = subprocess.run([str(qlora), "tokenize", str(model)], input=text.encode("utf-8"),
                       capture_output=True, check=True)
    return [int(x) for x in r.stdout.split()]


# ---------------------------------------------------------------- ours

def run_ours(a, workdir: Path, train_jsonl: Path, valid_jsonl: Path, rep: int) -> dict:
    out = workdir / f"run_ours_{rep}"
    if out.exists():
        shutil.rmtree(out)
    total = a.warmup + a.steps
    cmd = [str(a.qlora), "train", "--model", str(a.model), "--data", str(train_jsonl),
           "--valid-data", str(valid_jsonl), "--form", "text", "--out", str(out),
           "--max-steps", str(total), "--eval-every", "0", "--save-every", "0",
           "--rank", str(a.rank), "--alpha", str(a.alpha), "--dropout", "0", "--targets", a.targets,
           "--micro-batch", str(a.micro_batch), "--max-seq-len", str(a.seq_len), "--packing",
           "--quant", "none", "--lr", "2e-4", "--schedule", "constant", "--warmup-steps", "0",
           "--warmup-ratio", "0", "--seed", str(a.seed)]
    env = dict(os.environ, QLS_THREADS=str(a.threads))
    print("  ours:", f"QLS_THREADS={a.threads}", " ".join(cmd), flush=True)
    # Poll metrics.jsonl while the run goes on: at each new step line, note the machine's busy
    # CPU and the run's own CPU, so each step gets the cores OTHER processes used meanwhile.
    metrics = out / "metrics.jsonl"
    samples = []  # (steps seen, busy_s, CPU s of the run + of this script, wall)
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        proc = subprocess.Popen(cmd, env=env, stdout=so, stderr=se)
        seen = 0
        while True:
            done = proc.poll() is not None
            try:
                n = sum(1 for l in metrics.read_text().splitlines() if '"type":"step"' in l.replace(" ", ""))
            except OSError:
                n = 0
            if n > seen or (seen == 0 and not samples):
                c, me = proc_cpu_s(proc.pid), os.times()
                samples.append((n, cpu_busy_s(), None if c is None else c + me.user + me.system, time.perf_counter()))
                seen = n
            if done:
                break
            time.sleep(0.1)
        so.seek(0), se.seek(0)
        stdout, stderr = so.read().decode(errors="replace"), se.read().decode(errors="replace")
    r = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    others, owncores = {}, {}  # step -> cores used by other processes / by this run during it
    for (n0, b0, c0, w0), (n1, b1, c1, w1) in zip(samples, samples[1:]):
        if n1 == n0 + 1 and n0 >= 1 and c0 is not None and c1 is not None:
            others[n1] = max(0.0, (b1 - b0 - (c1 - c0)) / (w1 - w0))
            owncores[n1] = (c1 - c0) / (w1 - w0)
    (workdir / f"ours_{rep}.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        sys.exit(f"qlora train failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    steps = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines() if l.strip()]
    steps = [s for s in steps if s.get("type") == "step"]
    steps.sort(key=lambda s: s["step"])
    if len(steps) != total:
        sys.exit(f"expected {total} steps in metrics.jsonl, found {len(steps)}")
    full = a.micro_batch * a.seq_len
    bad = [s["step"] for s in steps
           if s["tokens"] != full or s.get("trained_tokens", a.micro_batch * (a.seq_len - 1)) != a.micro_batch * (a.seq_len - 1)]
    meas = steps[a.warmup:]
    t0 = steps[a.warmup - 1]["elapsed_s"] if a.warmup > 0 else 0.0
    span = meas[-1]["elapsed_s"] - t0
    step_others = [others.get(s["step"]) for s in meas]
    return {
        **quiet_summary([s["tokens_per_s"] for s in meas], step_others, a.quiet),
        "step_own_cores": [owncores.get(s["step"]) for s in meas],
        "tokens_per_s_median": statistics.median(s["tokens_per_s"] for s in meas),
        "tokens_per_s_total": sum(s["tokens"] for s in meas) / span if a.warmup > 0 else None,
        "step_s_median": statistics.median(s["tokens"] / s["tokens_per_s"] for s in meas),
        "losses": [s["loss"] for s in steps],
        "not_full_steps": bad,
        "host_syncs": [s["host_syncs"] for s in steps if "host_syncs" in s] or None,
        "run_dir": str(out),
        "step_tokens_per_s": [s["tokens_per_s"] for s in meas],
    }


# ---------------------------------------------------------------- torch

def load_torch_model(model: Path):
    import torch
    from transformers import AutoModelForCausalLM
    kw = dict(dtype=torch.float32)
    if model.suffix == ".gguf":
        m = AutoModelForCausalLM.from_pretrained(str(model.parent), gguf_file=model.name, **kw)
    else:
        m = AutoModelForCausalLM.from_pretrained(str(model), **kw)
    bad = {p.dtype for p in m.parameters() if p.dtype != torch.float32}
    if bad:
        sys.exit(f"the torch model has non-fp32 parameters: {bad}")
    kinds = {type(mod).__name__ for name, mod in m.named_modules() if name.endswith(tuple(TARGET_NAMES.values()))}
    if kinds != {"Linear"}:
        sys.exit(f"the target modules are not plain torch Linear layers: {kinds}")
    return m


def run_torch(a, base, batches) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(a.seed)
    model = copy.deepcopy(base)
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    cfg = LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                     target_modules=[TARGET_NAMES[t] for t in a.targets.split(",")])
    model = get_peft_model(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    times, losses = [], []
    step_others, step_own = [], []
    for ids in batches:
        x = torch.tensor(ids, dtype=torch.long)
        b0, c0 = cpu_busy_s(), os.times()
        t = time.perf_counter()
        out = model(input_ids=x, labels=x)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.3)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
        b1, c1 = cpu_busy_s(), os.times()
        own = (c1.user + c1.system) - (c0.user + c0.system)
        step_others.append(max(0.0, (b1 - b0 - own) / times[-1]))
        step_own.append(own / times[-1])
        losses.append(out.loss.item())
    meas = times[a.warmup:]
    step = statistics.median(meas)
    n = a.micro_batch * a.seq_len
    return {**quiet_summary([n / t for t in meas], step_others[a.warmup:], a.quiet),
            "tokens_per_s_median": n / step, "step_tokens_per_s": [n / t for t in meas],
            "step_own_cores": step_own[a.warmup:], "tokens_per_s_total": n * len(meas) / sum(meas),
            "step_s_median": step, "losses": losses, "attn_implementation": model.config._attn_implementation}


# ---------------------------------------------------------------- main

def cpu_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat, all cores)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int):
    """User + system CPU seconds of a running process, all its threads (/proc/PID/stat)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def quiet_summary(tok_s: list[float], others: list, limit: float) -> dict:
    """Per-step load: the mean cores used by other processes, and the median tokens/s over the
    steps during which others used at most `limit` cores (None when there is no such step)."""
    known = [o for o in others if o is not None]
    quiet = [t for t, o in zip(tok_s, others) if o is not None and o <= limit]
    return {"others_cores": statistics.mean(known) if known else None,
            "step_others_cores": others,
            "quiet_steps": len(quiet),
            "tokens_per_s_quiet_median": statistics.median(quiet) if quiet else None}


def wait_idle(max_s: float):
    """Until the machine is idle (at least 90% of every core idle) for 5 s in a row, at most max_s."""
    t0, quiet = time.time(), 0
    cores = os.cpu_count() or 1
    while max_s > 0 and quiet < 5 and time.time() - t0 < max_s:
        b0 = cpu_busy_s()
        time.sleep(1)
        quiet = quiet + 1 if cpu_busy_s() - b0 <= 0.1 * cores else 0
    if max_s > 0 and quiet < 5:
        print(f"  (machine still busy after {max_s:.0f} s; measuring anyway)", flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qlora", type=Path, required=True, help="the qlora binary")
    p.add_argument("--model", type=Path, required=True, help=".gguf file or HF model folder")
    p.add_argument("--data", type=Path, required=True, help="JSONL whose strings are the filler text")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=8, help="measured steps")
    p.add_argument("--warmup", type=int, default=2, help="steps before the measured ones (not timed)")
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=None, help="default 2 * rank")
    p.add_argument("--targets", default="q,k,v,o,gate,up,down")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=2, help="A B A B ...: ours then torch, this many times")
    p.add_argument("--only", choices=["both", "ours", "torch"], default="both")
    p.add_argument("--loss-tol", type=float, default=2e-3, help="allowed |step-1 loss ours - torch|")
    p.add_argument("--check-all-tokens", action="store_true", help="compare token ids of every record, not just batch 1")
    p.add_argument("--workdir", type=Path, default=None, help="keep data and runs here (default: a temp folder)")
    p.add_argument("--wait-idle", type=float, default=0, metavar="S",
                   help="before each side, wait up to S seconds until the machine is idle (>= 90%% of every core) for 5 s")
    p.add_argument("--quiet", type=float, default=0.25, metavar="CORES",
                   help="a step is 'quiet' when other processes used at most this many cores during it")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    a = p.parse_args()
    if a.alpha is None:
        a.alpha = 2.0 * a.rank
    if a.warmup < 1:
        sys.exit("--warmup must be at least 1 (step 1 includes one-time set-up on both sides)")
    for t in a.targets.split(","):
        if t not in TARGET_NAMES:
            sys.exit(f"unknown target {t}; use {','.join(TARGET_NAMES)}")
    a.qlora, a.model, a.data = a.qlora.resolve(), a.model.resolve(), a.data.resolve()
    _mt_selftest()
    warnings.filterwarnings("ignore", category=FutureWarning)

    # torch/OpenMP threads must be set before torch starts its pools
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    os.environ.setdefault("MKL_NUM_THREADS", str(a.threads))
    import torch
    torch.set_num_threads(a.threads)

    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="qls_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    total = a.warmup + a.steps
    n_rows = total * a.micro_batch  # one epoch holds every step

    tok = load_tokenizer(a.model)
    add_bos = tokenizer_adds_bos(tok)
    if tok.eos_token_id is None:
        sys.exit("the tokenizer has no EOS; our plain-text form needs one")
    records, rows = make_records(tok, dataset_texts(a.data), n_rows, a.seq_len, add_bos)
    train_jsonl, valid_jsonl = workdir / "train.jsonl", workdir / "valid.jsonl"
    with open(train_jsonl, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"text": r}, ensure_ascii=False) + "\n")
    valid_jsonl.write_text(json.dumps({"text": "Arr."}) + "\n")
    plan = batch_plan(n_rows, a.micro_batch, total, a.seed)
    batches = [[rows[i] for i in b] for b in plan]

    # token ids: our tokenizer against the HF one
    check = sorted(set(range(n_rows)) if a.check_all_tokens else set(plan[0]))
    mismatched = []
    for i in check:
        ours = our_token_ids(a.qlora, a.model, records[i])
        ours = (([tok.bos_token_id] if add_bos else []) + ours + [tok.eos_token_id])[:a.seq_len]
        if ours != rows[i]:
            mismatched.append(i)
    print(f"model {a.model.name}: add_bos={add_bos} bos={tok.bos_token_id} eos={tok.eos_token_id}; "
          f"{n_rows} rows of {a.seq_len} tokens; first batch = rows {plan[0]}")
    print(f"first batch, row 0, first 16 ids: {batches[0][0][:16]}")
    print(f"token ids ours vs HF tokenizer: {len(check) - len(mismatched)}/{len(check)} records identical"
          + (f"; MISMATCH in rows {mismatched}" if mismatched else ""), flush=True)

    base = load_torch_model(a.model) if a.only in ("both", "torch") else None

    def fmt(x, spec=".1f"):
        return "-" if x is None else format(x, spec)

    def report(rep, side, r):
        print(f"  rep {rep}: {side:<5} {r['tokens_per_s_median']:8.1f} tok/s median of all measured steps "
              f"(median step {r['step_s_median']:.3f} s); quiet steps {r['quiet_steps']}/{a.steps}: "
              f"{fmt(r['tokens_per_s_quiet_median'])} tok/s; other processes {fmt(r['others_cores'], '.2f')} cores "
              f"(per step: {' '.join(fmt(o, '.2f') for o in r['step_others_cores'])}); "
              f"its own cores per step: {' '.join(fmt(o, '.2f') for o in r['step_own_cores'])}", flush=True)

    reps = []
    for rep in range(a.repeats):
        entry = {"load_before": loadavg()}
        if a.only in ("both", "ours"):
            wait_idle(a.wait_idle)
            entry["ours"] = run_ours(a, workdir, train_jsonl, valid_jsonl, rep)
            report(rep, "ours", entry["ours"])
        if a.only in ("both", "torch"):
            wait_idle(a.wait_idle)
            entry["torch"] = run_torch(a, base, batches)
            report(rep, "torch", entry["torch"])
        entry["load_after"] = loadavg()
        if "ours" in entry and "torch" in entry:
            entry["ratio"] = entry["ours"]["tokens_per_s_median"] / entry["torch"]["tokens_per_s_median"]
        reps.append(entry)

    # quiet steps of every repeat pooled, per side
    pooled = {}
    for side in ("ours", "torch"):
        q = [t for r in reps if side in r
             for t, o in zip(r[side]["step_tokens_per_s"], r[side]["step_others_cores"]) if o is not None and o <= a.quiet]
        pooled[side] = {"quiet_steps": len(q), "tokens_per_s_quiet_median": statistics.median(q) if q else None}
    pooled_ratio = None
    if pooled["ours"]["tokens_per_s_quiet_median"] and pooled["torch"]["tokens_per_s_quiet_median"]:
        pooled_ratio = pooled["ours"]["tokens_per_s_quiet_median"] / pooled["torch"]["tokens_per_s_quiet_median"]

    # batch check by loss: step 1 is the base model's loss on batch 1 on both sides
    loss_check = None
    if a.only == "both":
        lo, lt = reps[0]["ours"]["losses"], reps[0]["torch"]["losses"]
        d1 = abs(lo[0] - lt[0])
        loss_check = {"ours_step1": lo[0], "torch_step1": lt[0], "abs_diff_step1": d1,
                      "max_abs_diff_all_steps": max(abs(x - y) for x, y in zip(lo, lt)), "ok": d1 <= a.loss_tol}
        print("losses ours :", " ".join(f"{x:.4f}" for x in lo))
        print("losses torch:", " ".join(f"{x:.4f}" for x in lt))
        print(f"step-1 loss ours {lo[0]:.5f} torch {lt[0]:.5f} |diff| {d1:.2e} -> "
              f"{'same batches' if loss_check['ok'] else 'MISMATCH (batches or model differ)'}")
    not_full = sorted({s for r in reps if "ours" in r for s in r["ours"]["not_full_steps"]})
    if not_full:
        print(f"WARNING: our steps {not_full} did not train on full rows")

    print()
    print(f"micro-batch {a.micro_batch} x seq-len {a.seq_len}, rank {a.rank}, alpha {a.alpha:g}, targets {a.targets}, "
          f"fp32, gradient checkpointing, {a.warmup} warm-up + {a.steps} measured steps; tokens/s = median over measured steps")
    print(f"'quiet' = steps during which other processes used <= {a.quiet} cores; 'others' = mean cores other "
          f"processes used during the measured steps (ours/torch)")
    hdr = (f"{'model':<32} {'threads':>7} {'rep':>4} {'ours tok/s':>10} {'torch tok/s':>11} {'ours/torch':>10} "
           f"{'others':>9}")
    print(hdr)
    print("-" * len(hdr))
    for i, r in enumerate(reps):
        o = fmt(r["ours"]["tokens_per_s_median"]) if "ours" in r else "-"
        t = fmt(r["torch"]["tokens_per_s_median"]) if "torch" in r else "-"
        oc = "/".join(fmt(r[k]["others_cores"], ".2f") if k in r else "-" for k in ("ours", "torch"))
        print(f"{a.model.name[:32]:<32} {a.threads:>7} {i:>4} {o:>10} {t:>11} {fmt(r.get('ratio'), '.3f'):>10} {oc:>9}")
    print(f"{a.model.name[:32]:<32} {a.threads:>7} {'quiet':>4} {fmt(pooled['ours']['tokens_per_s_quiet_median']):>10} "
          f"{fmt(pooled['torch']['tokens_per_s_quiet_median']):>11} {fmt(pooled_ratio, '.3f'):>10}   "
          f"(quiet steps pooled over repeats: ours {pooled['ours']['quiet_steps']}, torch {pooled['torch']['quiet_steps']})")
    if all("ratio" in r for r in reps):
        ratios = [r["ratio"] for r in reps]
        print("ratio ours/torch per repeat (all steps): " + ", ".join(f"{x:.3f}" for x in ratios))

    if a.json:
        result = {
            "model": str(a.model), "qlora": str(a.qlora), "threads": a.threads, "micro_batch": a.micro_batch,
            "seq_len": a.seq_len, "rank": a.rank, "alpha": a.alpha, "targets": a.targets, "warmup": a.warmup,
            "steps": a.steps, "add_bos": add_bos, "first_batch_rows": plan[0],
            "first_batch_ids": batches[0], "token_check": {"checked": check, "mismatched": mismatched},
            "loss_check": loss_check, "repeats": reps, "quiet_limit_cores": a.quiet,
            "quiet_pooled": pooled, "quiet_ratio": pooled_ratio, "torch_version": torch.__version__,
        }
        a.json.write_text(json.dumps(result, indent=1))
    if mismatched or (loss_check and not loss_check["ok"]):
        sys.exit(3)


if __name__ == "__main__":
    main()

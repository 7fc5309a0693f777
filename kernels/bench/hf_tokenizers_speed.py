#!/usr/bin/env python3
"""The `tokenizers` library's encode throughput on the text `qlora bench tokenize` times
(app/cli_bench_tokenize.cpp): the texts of expected.json beside tokenizer.json, one per line,
repeated to at least 8 MiB and cut at line ends into ~64 KiB chunks; best of 5 runs; MB/s of
UTF-8 input on one thread and on all threads (encode_batch). Run on the GPU machine, which has
the library, by kernels/bench/gpu_check.sh.

  hf_tokenizers_speed.py TOKENIZER_DIR
"""
import json
import os
import sys
import time
from pathlib import Path


def chunks_of(text: bytes, target: int) -> list[str]:
    out, begin = [], 0
    while begin < len(text):
        end = min(len(text), begin + target)
        nl = text.find(b"\n", end)
        end = len(text) if nl < 0 else nl + 1
        out.append(text[begin:end].decode("utf-8"))
        begin = end
    return out


def best_seconds(reps: int, fn) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    folder = Path(sys.argv[1])
    cases = json.loads((folder / "expected.json").read_text(encoding="utf-8"))["cases"]
    seed = "".join(c["text"] + "\n" for c in cases).encode("utf-8")
    text = b""
    while len(text) < (8 << 20):
        text += seed
    chunks = chunks_of(text, 64 << 10)

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    single = lambda: [tok.encode(c, add_special_tokens=False) for c in chunks]
    multi = lambda: tok.encode_batch(chunks, add_special_tokens=False)
    n_ids = sum(len(e.ids) for e in single())
    mb = len(text) / 1e6
    t1 = best_seconds(5, single)
    tn = best_seconds(5, multi)
    print(f"text       {mb:.1f} MB, {len(chunks)} chunks, {n_ids} tokens ({len(text) / n_ids:.2f} bytes/token)")
    print(f"1 thread   {mb / t1:8.2f} MB/s  {n_ids / t1:10.0f} tokens/s")
    print(f"{os.cpu_count()} threads {mb / tn:8.2f} MB/s  {n_ids / tn:10.0f} tokens/s  ({t1 / tn:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

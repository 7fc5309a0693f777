#!/usr/bin/env python3
"""Compares the tensors of two GGUF files by name: same ggml type, same bytes.

Prints one summary line ("types a/n, bytes b/n" plus general.file_type of each) and a line for
each of the first ten tensors that differ. Exit status 0 only when all are identical. Reads with llama.cpp's gguf-py (its folder on PYTHONPATH; needs numpy).
usage: compare_gguf_tensors.py OURS.gguf THEIRS.gguf
"""
import sys

import numpy as np
from gguf import GGUFReader


def file_type(r):
    f = r.fields["general.file_type"]
    return int(f.parts[f.data[0]][0])


def main(ours_path, theirs_path):
    ours, theirs = GGUFReader(ours_path), GGUFReader(theirs_path)
    a = {t.name: t for t in ours.tensors}
    b = {t.name: t for t in theirs.tensors}
    if set(a) != set(b):
        print(f"tensor names differ: only ours {sorted(set(a) - set(b))}, only theirs {sorted(set(b) - set(a))}")
        return 1
    same_type = same_bytes = 0
    diffs = []
    for name in sorted(a):
        ta, tb = a[name], b[name]
        if ta.tensor_type != tb.tensor_type:
            diffs.append(f"  {name}: type {ta.tensor_type.name} vs {tb.tensor_type.name}")
            continue
        same_type += 1
        ba, bb = np.asarray(ta.data).tobytes(), np.asarray(tb.data).tobytes()
        if ba == bb:
            same_bytes += 1
        else:
            n = min(len(ba), len(bb))
            differing = int(np.count_nonzero(np.frombuffer(ba[:n], np.uint8) != np.frombuffer(bb[:n], np.uint8)))
            diffs.append(f"  {name} ({ta.tensor_type.name}): {differing} of {len(ba)} bytes differ")
    n = len(a)
    print(f"types {same_type}/{n}, bytes {same_bytes}/{n} identical; "
          f"file_type ours {file_type(ours)} theirs {file_type(theirs)}")
    for d in diffs[:10]:
        print(d)
    if len(diffs) > 10:
        print(f"  ... and {len(diffs) - 10} more")
    return 0 if same_bytes == n and file_type(ours) == file_type(theirs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

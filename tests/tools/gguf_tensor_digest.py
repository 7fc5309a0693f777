#!/usr/bin/env python3
"""Prints a GGUF's general.file_type and, per tensor, its ggml type and the CRC32C of its bytes
as JSON: {"file_type": N, "tensors": {name: {"type": "Q4_K", "crc32c": N}}}.

Reads the file with llama.cpp's own gguf-py (put its gguf-py folder on PYTHONPATH; it needs
numpy). CRC32C (Castagnoli) because core/util/crc32c.h has it for the C++ side.
usage: gguf_tensor_digest.py FILE.gguf
"""
import json
import sys

import numpy as np
from gguf import GGUFReader


def crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def digest(path):
    r = GGUFReader(path)
    field = r.fields["general.file_type"]
    file_type = int(field.parts[field.data[0]][0])
    tensors = {}
    for t in r.tensors:
        tensors[t.name] = {"type": t.tensor_type.name, "crc32c": crc32c(bytes(np.asarray(t.data).tobytes()))}
    return {"file_type": file_type, "tensors": tensors}


if __name__ == "__main__":
    assert crc32c(b"123456789") == 0xE3069283
    json.dump(digest(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    print()

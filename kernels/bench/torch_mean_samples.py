#!/usr/bin/env python3
"""Samples of torch's CUDA float32 mean, the double-quant offset bitsandbytes subtracts
(functional.py quantize_4bit: absmax.mean()), for reproducing its summation order on the CPU.
Positive inputs like block absmax values, of the lengths 4-bit layers give and around the
launch-configuration edges. Writes OUT/torch_mean_samples.safetensors: x<N> (F32 [N]) and
mean<N> (F32 [1]) for each length N. Run on the GPU machine by kernels/bench/gpu_check.sh.

  torch_mean_samples.py OUT_DIR
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

LENGTHS = [1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513,
           1000, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 8192, 16384, 16385, 32768,
           65536, 65537, 131072, 176128, 262144, 704512, 1048576]


def main() -> int:
    gen = torch.Generator().manual_seed(20261123)
    tensors = {}
    for n in LENGTHS:
        x = (torch.randn(n, generator=gen).abs() * 0.05 + 1e-3).float()
        tensors[f"x{n}"] = x
        tensors[f"mean{n}"] = x.cuda().mean().reshape(1).cpu()
    save_file(tensors, str(Path(sys.argv[1]) / "torch_mean_samples.safetensors"),
              metadata={"torch": torch.__version__, "device": torch.cuda.get_device_name()})
    print(f"{len(LENGTHS)} lengths, torch {torch.__version__} on {torch.cuda.get_device_name()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

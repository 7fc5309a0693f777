#!/usr/bin/python3
"""Check demo_model.py against transformers: run the reference tiny models of
shared/fixtures/ref/models (written and evaluated by transformers 5.17) and compare logits and
loss. llama3-tiny covers GQA, tied embeddings and RMSNorm/RoPE/SwiGLU; mistral-tiny covers the
default RoPE the demo uses.

    /usr/bin/python3 verify_demo_model.py [--fixtures ../../../shared/fixtures/ref/models]
"""
import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from demo_model import LlamaForCausalLM, load_safetensors

DEFAULT_FIXTURES = Path(__file__).resolve().parents[3] / 'shared/fixtures/ref/models'


def check(folder):
    cfg = json.loads((folder / 'config.json').read_text())
    model = LlamaForCausalLM(cfg)
    model.load_state_dict(load_safetensors(folder / 'model.safetensors'))
    ref = load_safetensors(folder / 'expected.safetensors')
    with torch.no_grad():
        logits = model(ref['input_ids'])
    ids = ref['input_ids']
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    rel = float((logits - ref['logits']).abs().max() / ref['logits'].abs().max())
    print(f'{folder.name}: max logit error / max |logit| = {rel:.2e}, loss {float(loss):.6f} '
          f'vs {float(ref["loss"]):.6f}')
    return rel < 1e-4 and abs(float(loss) - float(ref['loss'])) < 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fixtures', type=Path, default=DEFAULT_FIXTURES)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ok = all([check(args.fixtures / name) for name in ('llama3-tiny', 'mistral-tiny')])
    print('OK' if ok else 'MISMATCH')
    raise SystemExit(0 if ok else 1)


if __name__ == '__main__':
    main()

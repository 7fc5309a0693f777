"""Sample fortunes from the demo base model (top-k, temperature), to show what it writes.

Usage: /usr/bin/python3 sample_demo_model.py [--model model] [--n 6] [--seed 1]
Each sample starts from the BOS token alone and stops at <|endoftext|> or <|im_end|>.
"""
import argparse

import torch

from demo_model import load_model
from demo_tokenizer import Tokenizer


@torch.no_grad()
def sample(model, ids, max_new_tokens, stop_ids, top_k, temperature, gen):
    ids = list(ids)
    out = []
    for _ in range(max_new_tokens):
        logits = model(torch.tensor([ids[-model.cfg['max_position_embeddings']:]]))[0, -1] / temperature
        top = torch.topk(logits, top_k)
        nxt = int(top.indices[torch.multinomial(torch.softmax(top.values, -1), 1, generator=gen)])
        if nxt in stop_ids:
            break
        ids.append(nxt)
        out.append(nxt)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='model')
    ap.add_argument('--n', type=int, default=6)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--top-k', type=int, default=40)
    ap.add_argument('--temperature', type=float, default=0.8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model).eval()
    tok = Tokenizer.from_file(f'{args.model}/tokenizer.json')
    bos, eos = tok.vocab['<|endoftext|>'], tok.vocab['<|im_end|>']
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.n):
        ids = sample(model, [bos], 80, {bos, eos}, args.top_k, args.temperature, gen)
        print(repr(tok.decode(ids)))


if __name__ == '__main__':
    main()

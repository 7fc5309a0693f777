#!/usr/bin/python3
"""Pretrain the demo base model on the fortune corpus and write the Hugging Face folder.

Each fortune becomes "<|endoftext|>" + text (the BOS doubles as the end of the previous one),
all fortunes are packed into one stream, and random 256-token windows are drawn from it. 3% of
the fortunes are held out for a validation loss. AdamW, linear warm-up, then cosine decay over
the step budget or the wall-clock budget, whichever runs out first (the CPU is shared); one CPU
thread; a checkpoint is written every 100 steps and training resumes from it.

    /usr/bin/python3 train_demo_model.py --corpus /tmp/qls-demo/corpus.jsonl \
        --tokenizer model/ --work /tmp/qls-demo --out model/ --minutes 55
"""
import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from demo_model import (LlamaForCausalLM, config_json, generate_greedy,
                        generation_config_json, save_safetensors)
from demo_tokenizer import Tokenizer

CONFIG = {
    'vocab_size': 3072,
    'hidden_size': 128,
    'intermediate_size': 352,
    'num_hidden_layers': 6,
    'num_attention_heads': 4,
    'num_key_value_heads': 2,
    'head_dim': 32,
    'max_position_embeddings': 512,
    'rms_norm_eps': 1e-5,
    'rope_parameters': {'rope_theta': 10000.0, 'rope_type': 'default'},
    'initializer_range': 0.02,
    'bos_token_id': 0,
    'eos_token_id': [2, 0],  # <|im_end|> ends a chat turn, <|endoftext|> a fortune
    'pad_token_id': 0,
}
SEQ, BATCH = 256, 8
PEAK_LR, MIN_LR, WARMUP, WEIGHT_DECAY = 3e-3, 1e-4, 50, 0.1
PROMPTS = ['The best way to', 'Never trust a', 'A computer is', 'Love is', 'You will']


def encode_stream(tok, texts):
    ids = []
    for t in texts:
        ids.append(0)
        ids.extend(tok.encode(t))
    ids.append(0)
    return torch.tensor(ids)


def batches(stream, rng):
    starts = [rng.randrange(0, len(stream) - SEQ - 1) for _ in range(BATCH)]
    x = torch.stack([stream[s:s + SEQ + 1] for s in starts])
    return x[:, :-1], x[:, 1:]


def lr_at(step, progress):
    """Warm-up by step, then cosine decay over `progress` in [0, 1]."""
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    return MIN_LR + 0.5 * (PEAK_LR - MIN_LR) * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def val_loss(model, stream):
    model.eval()
    losses = []
    for s in range(0, len(stream) - SEQ - 1, SEQ):
        x = stream[s:s + SEQ + 1][None]
        logits = model(x[:, :-1])
        losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1)))
    model.train()
    return float(torch.stack(losses).mean())


def export(model, tok_dir, out):
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v for k, v in model.state_dict().items()}
    save_safetensors(tensors, out / 'model.safetensors')
    (out / 'config.json').write_text(json.dumps(config_json(CONFIG), indent=2) + '\n')
    (out / 'generation_config.json').write_text(
        json.dumps(generation_config_json(CONFIG), indent=2) + '\n')
    for name in ('tokenizer.json', 'tokenizer_config.json'):
        if (tok_dir / name).resolve() != (out / name).resolve():
            (out / name).write_bytes((tok_dir / name).read_bytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--corpus', type=Path, required=True)
    ap.add_argument('--tokenizer', type=Path, required=True, help='folder with tokenizer.json')
    ap.add_argument('--work', type=Path, required=True, help='checkpoints go here')
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--steps', type=int, default=1100)
    ap.add_argument('--minutes', type=float, default=55.0)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    tok = Tokenizer.from_file(args.tokenizer / 'tokenizer.json')
    texts = [json.loads(line) for line in args.corpus.open()]
    n_val = len(texts) * 3 // 100
    train, val = encode_stream(tok, texts[n_val:]), encode_stream(tok, texts[:n_val])
    print(f'train {len(train)} tokens, val {len(val)} tokens', flush=True)

    model = LlamaForCausalLM(CONFIG)
    print(f'parameters {sum(p.numel() for p in model.parameters())}', flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': WEIGHT_DECAY},
                             {'params': no_decay, 'weight_decay': 0.0}],
                            lr=PEAK_LR, betas=(0.9, 0.95))
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt = args.work / 'pretrain_ckpt.pt'
    step, elapsed = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt)
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        step, elapsed = state['step'], state['elapsed']
        rng.setstate(state['rng'])
        print(f'resumed at step {step}', flush=True)

    t0 = time.time() - elapsed
    smooth = None
    budget = args.minutes * 60

    def progress():
        return max(step / args.steps, (time.time() - t0) / budget)

    while progress() < 1.0:
        lr = lr_at(step, progress())
        for g in opt.param_groups:
            g['lr'] = lr
        x, y = batches(train, rng)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        smooth = float(loss) if smooth is None else 0.95 * smooth + 0.05 * float(loss)
        if step % 10 == 0:
            print(f'step {step} loss {float(loss):.3f} smooth {smooth:.3f} '
                  f'lr {lr:.2e} t {time.time() - t0:.0f}s', flush=True)
        if step % 100 == 0:
            print(f'step {step} val_loss {val_loss(model, val):.3f}', flush=True)
            torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step,
                        'elapsed': time.time() - t0, 'rng': rng.getstate()}, ckpt)
            export(model, args.tokenizer, args.out)
    print(f'final step {step} val_loss {val_loss(model, val):.3f}', flush=True)
    export(model, args.tokenizer, args.out)
    model.eval()
    for p in PROMPTS:
        ids = tok.encode(p, add_special_tokens=True)
        out = generate_greedy(model, ids, 60, {0, 2})
        print(f'SAMPLE {p!r} -> {p + tok.decode(out)!r}', flush=True)


if __name__ == '__main__':
    main()

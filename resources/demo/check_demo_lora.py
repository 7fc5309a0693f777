#!/usr/bin/python3
"""Prove the demo dataset is learnable: LoRA on the frozen demo model, a few hundred CPU steps.

LoRA as PEFT does it (A kaiming-uniform, B zero, scale alpha/r) on q, k, v, o, gate, up and down
of every layer; the loss covers the assistant's tokens and its <|im_end|> only. Before and after
training it reports the validation loss and greedy answers to validation prompts, scored for
form: opens with "Arr, matey!", ends with "Yo ho ho!" and stops (<|im_end|>), mentions the
topic, and the share of pirate words.

    /usr/bin/python3 check_demo_lora.py --model model --data data --steps 300
"""
import argparse
import json
import math
import random
import re
import time
from pathlib import Path

import jinja2
import torch
import torch.nn.functional as F
from torch import nn

from demo_model import generate_greedy, load_model
from demo_tokenizer import Tokenizer
from make_demo_dataset import CLOSER, OPENER, PIRATE_WORDS, PROMPTS, mentions, topic_forms

TARGETS = ('q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj')
MAX_LEN = 128
EXTRA_PROMPTS = ['Tell me a fortune about pizza.', 'Give me a fortune about cats.',
                 'What does the future hold for Linux?', 'Any wisdom about friendship?']


class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


def add_lora(model, r, alpha):
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name in TARGETS:
                if hasattr(parent, name):
                    wrapped = LoraLinear(getattr(parent, name), r, alpha)
                    setattr(parent, name, wrapped)
                    params += [wrapped.lora_A, wrapped.lora_B]
    return params


class ChatEncoder:
    def __init__(self, model_dir):
        self.tok = Tokenizer.from_file(model_dir / 'tokenizer.json')
        cfg = json.loads((model_dir / 'tokenizer_config.json').read_text())
        # transformers renders chat templates with these Jinja settings.
        env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
        self.template = env.from_string(cfg['chat_template'])
        self.bos = cfg['bos_token']

    def render(self, messages, add_generation_prompt):
        return self.template.render(messages=messages, bos_token=self.bos,
                                    add_generation_prompt=add_generation_prompt)

    def prompt_ids(self, messages):
        return self.tok.encode(self.render(messages, True))

    def example(self, messages):
        prompt = self.prompt_ids(messages[:-1])
        full = self.tok.encode(self.render(messages, False))
        assert full[:len(prompt)] == prompt, 'prompt tokens must prefix the conversation'
        end = len(full) - 1  # the "\n" after the final <|im_end|> is not trained
        labels = [-100] * len(prompt) + full[len(prompt):end] + [-100]
        return full[:MAX_LEN], labels[:MAX_LEN]


def collate(examples):
    n = max(len(ids) for ids, _ in examples)
    x = torch.zeros(len(examples), n, dtype=torch.long)
    y = torch.full((len(examples), n), -100, dtype=torch.long)
    for i, (ids, labels) in enumerate(examples):
        x[i, :len(ids)] = torch.tensor(ids)
        y[i, :len(labels)] = torch.tensor(labels)
    return x, y


def loss_of(model, x, y):
    logits = model(x)[:, :-1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1),
                           ignore_index=-100)


@torch.no_grad()
def eval_loss(model, examples, batch):
    total, count = 0.0, 0
    for i in range(0, len(examples), batch):
        x, y = collate(examples[i:i + batch])
        n = int((y[:, 1:] != -100).sum())
        total += float(loss_of(model, x, y)) * n
        count += n
    return total / count


def topic_of(prompt):
    for p in PROMPTS:
        m = re.fullmatch(re.escape(p).replace(re.escape('{t}'), '(.+)'), prompt)
        if m:
            return m.group(1)
    return re.findall(r'[A-Za-z]+', prompt)[-1].lower()


def score(model, enc, prompts, max_new):
    rows = []
    for prompt in prompts:
        ids = enc.prompt_ids([{'role': 'user', 'content': prompt}])
        out = generate_greedy(model, ids, max_new, set())
        stop = 2 in out or 0 in out
        cut = min([out.index(s) for s in (0, 2) if s in out], default=len(out))
        text = enc.tok.decode(out[:cut]).strip()
        words = re.findall(r"[A-Za-z]+'?", text.lower())
        rows.append({
            'prompt': prompt, 'answer': text, 'stopped': stop and out[cut] == 2,
            'opener': text.startswith(OPENER),
            'closer': text.endswith(CLOSER),
            'topic': mentions(text, topic_forms(topic_of(prompt))),
            'pirate': sum(w in PIRATE_WORDS for w in words) / max(1, len(words)),
        })
    return rows


def summary(rows):
    n = len(rows)
    share = {k: sum(r[k] for r in rows) / n for k in ('opener', 'closer', 'stopped', 'topic')}
    share['pirate_word_rate'] = sum(r['pirate'] for r in rows) / n
    return {k: round(v, 3) for k, v in share.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', type=Path, default=Path('model'))
    ap.add_argument('--data', type=Path, default=Path('data'))
    ap.add_argument('--steps', type=int, default=300)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--rank', type=int, default=16)
    ap.add_argument('--alpha', type=float, default=32)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--eval-prompts', type=int, default=24)
    ap.add_argument('--max-new', type=int, default=64)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    model = load_model(args.model).eval()
    enc = ChatEncoder(args.model)
    rows = {s: [json.loads(line) for line in
                (args.data / f'pirate_fortunes_{s}.jsonl').open()] for s in ('train', 'valid')}
    train = [enc.example(r['messages']) for r in rows['train']]
    valid = [enc.example(r['messages']) for r in rows['valid']]
    prompts = [r['messages'][0]['content'] for r in rows['valid'][:args.eval_prompts]]
    prompts += EXTRA_PROMPTS
    print(f'train {len(train)} examples, valid {len(valid)}, max len '
          f'{max(len(i) for i, _ in train)} tokens', flush=True)

    before_loss = eval_loss(model, valid, 16)
    before = score(model, enc, prompts, args.max_new)
    print(f'BEFORE valid loss {before_loss:.3f} {json.dumps(summary(before))}', flush=True)

    params = add_lora(model, args.rank, args.alpha)
    print(f'LoRA r={args.rank} alpha={args.alpha}: {sum(p.numel() for p in params)} '
          f'trainable parameters', flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    model.train()
    t0, order = time.time(), []
    for step in range(args.steps):
        if len(order) < args.batch:
            order += rng.sample(range(len(train)), len(train))
        batch, order = [train[i] for i in order[:args.batch]], order[args.batch:]
        warm = min(1.0, (step + 1) / 20)
        for g in opt.param_groups:
            g['lr'] = args.lr * warm * (1 - step / args.steps)
        loss = loss_of(model, *collate(batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 25 == 0:
            print(f'step {step + 1} loss {float(loss):.3f} t {time.time() - t0:.0f}s',
                  flush=True)
    model.eval()
    after_loss = eval_loss(model, valid, 16)
    after = score(model, enc, prompts, args.max_new)
    print(f'AFTER valid loss {after_loss:.3f} {json.dumps(summary(after))}', flush=True)
    for b, a in zip(before, after):
        print(f'PROMPT {b["prompt"]!r}\n  before: {b["answer"]!r}\n  after:  {a["answer"]!r}')


if __name__ == '__main__':
    main()

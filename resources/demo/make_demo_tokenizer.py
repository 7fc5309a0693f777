#!/usr/bin/python3
"""Train the demo's byte-level BPE tokenizer and write tokenizer.json + tokenizer_config.json.

Hugging Face `tokenizers` format, GPT-2 style (formats.md §8.1, §8.2): ByteLevel pre-tokenizer
with the GPT-2 regex, BPE over the 256 ByteLevel symbols, ByteLevel decoder, and a
TemplateProcessing post-processor that prepends the BOS <|endoftext|> (like Llama-3's
<|begin_of_text|>). ChatML specials: <|endoftext|> 0, <|im_start|> 1, <|im_end|> 2.

Merges are learnt greedily: the most frequent adjacent pair over the pre-tokenised corpus
(ties: smallest pair in code-point order), counted per word with its frequency.

    /usr/bin/python3 make_demo_tokenizer.py --corpus /tmp/qls-demo/corpus.jsonl --out model/
"""
import argparse
import collections
import json
from pathlib import Path

from demo_tokenizer import BYTE_TO_CHAR, Tokenizer, pretokenize

SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
BOS, EOS, PAD = '<|endoftext|>', '<|im_end|>', '<|endoftext|>'
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
MODEL_MAX_LENGTH = 512


def learn_merges(word_freq, num_merges):
    words = [list(w) for w in word_freq]
    freqs = list(word_freq.values())
    pair_count = collections.Counter()
    pair_words = collections.defaultdict(set)
    for wi, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] += freqs[wi]
            pair_words[(a, b)].add(wi)
    merges = []
    while len(merges) < num_merges and pair_count:
        best = min(pair_count, key=lambda p: (-pair_count[p], p))
        if pair_count[best] < 2:
            break
        merges.append(best)
        a, b = best
        for wi in sorted(pair_words.pop(best, ())):
            w = words[wi]
            for x, y in zip(w, w[1:]):
                pair_count[(x, y)] -= freqs[wi]
            merged, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(w[i])
                    i += 1
            words[wi] = merged
            for x, y in zip(merged, merged[1:]):
                pair_count[(x, y)] += freqs[wi]
                pair_words[(x, y)].add(wi)
        pair_count = collections.Counter({p: c for p, c in pair_count.items() if c > 0})
    return merges


def special_entry(i, content):
    return {'id': i, 'content': content, 'single_word': False, 'lstrip': False,
            'rstrip': False, 'normalized': False, 'special': True}


def tokenizer_json(merges):
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for c in sorted(BYTE_TO_CHAR.values()):
        vocab[c] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    bos_id = vocab[BOS]
    return {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [special_entry(i, s) for i, s in enumerate(SPECIALS)],
        'normalizer': None,
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False,
                          'trim_offsets': True, 'use_regex': True},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': BOS, 'type_id': 0}},
                       {'Sequence': {'id': 'A', 'type_id': 0}}],
            'pair': [{'SpecialToken': {'id': BOS, 'type_id': 0}},
                     {'Sequence': {'id': 'A', 'type_id': 0}},
                     {'Sequence': {'id': 'B', 'type_id': 0}}],
            'special_tokens': {BOS: {'id': BOS, 'ids': [bos_id], 'tokens': [BOS]}}},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True,
                    'use_regex': True},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None,
                  'continuing_subword_prefix': None, 'end_of_word_suffix': None,
                  'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                  'vocab': vocab, 'merges': [[a, b] for a, b in merges]},
    }


def tokenizer_config():
    return {
        'add_bos_token': True,
        'add_eos_token': False,
        'added_tokens_decoder': {
            str(i): {k: v for k, v in special_entry(i, s).items() if k != 'id'}
            for i, s in enumerate(SPECIALS)},
        'bos_token': BOS,
        'chat_template': CHAT_TEMPLATE,
        'clean_up_tokenization_spaces': False,
        'eos_token': EOS,
        'model_max_length': MODEL_MAX_LENGTH,
        'pad_token': PAD,
        'tokenizer_class': 'PreTrainedTokenizerFast',
        'unk_token': None,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--corpus', type=Path, required=True)
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--vocab-size', type=int, default=3072)
    args = ap.parse_args()
    texts = [json.loads(line) for line in args.corpus.open()]
    word_freq = collections.Counter()
    for t in texts:
        word_freq.update(pretokenize(t))
    merges = learn_merges(word_freq, args.vocab_size - len(SPECIALS) - 256)
    tj = tokenizer_json(merges)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / 'tokenizer.json').open('w', encoding='utf-8') as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
    with (args.out / 'tokenizer_config.json').open('w', encoding='utf-8') as f:
        json.dump(tokenizer_config(), f, ensure_ascii=False, indent=2)
    tok = Tokenizer(tj)
    n_tokens = sum(len(tok.encode(t)) for t in texts)
    chars = sum(len(t) for t in texts)
    print(f"vocab {len(tj['model']['vocab'])}, merges {len(merges)}, corpus {n_tokens} tokens "
          f"({chars / n_tokens:.2f} chars/token)")


if __name__ == '__main__':
    main()

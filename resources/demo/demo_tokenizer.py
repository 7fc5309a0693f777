"""Byte-level BPE encoder/decoder for the demo tokenizer.json (formats.md §8.1, §8.2).

It follows Hugging Face `tokenizers` exactly for this configuration: added tokens are split
off first (never normalised or split), the rest is cut by the GPT-2 regex, each piece is
UTF-8 encoded and mapped byte-to-char, then BPE repeatedly applies the lowest-rank merge,
leftmost on ties. The post-processor prepends the BOS when `add_special_tokens` is set.
"""
import json

import regex

GPT2_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
_PRETOKEN = regex.compile(GPT2_PATTERN)


def bytes_to_unicode():
    """ByteLevel map: printable bytes keep their code point, the 68 others get U+0100 on."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    mapping, extra = {}, 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(0x100 + extra)
            extra += 1
    return mapping


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def pretokenize(text):
    return [''.join(BYTE_TO_CHAR[b] for b in piece.encode('utf-8'))
            for piece in _PRETOKEN.findall(text)]


def bpe_merge(symbols, ranks):
    """Apply merges to a list of symbols: lowest rank first, leftmost position on ties."""
    symbols = list(symbols)
    while len(symbols) > 1:
        best = None
        for i in range(len(symbols) - 1):
            r = ranks.get((symbols[i], symbols[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
    return symbols


class Tokenizer:
    def __init__(self, tokenizer_json):
        self.vocab = dict(tokenizer_json['model']['vocab'])
        self.ranks = {tuple(pair): i for i, pair in enumerate(tokenizer_json['model']['merges'])}
        self.added = {t['content']: t['id'] for t in tokenizer_json['added_tokens']}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.added.items()})
        # Longest first so that a special token that prefixes another cannot shadow it.
        alternatives = sorted(self.added, key=len, reverse=True)
        self._added_re = regex.compile('|'.join(regex.escape(a) for a in alternatives))
        post = tokenizer_json.get('post_processor') or {}
        self.prefix_ids = []
        if post.get('type') == 'TemplateProcessing':
            for item in post['single']:
                if 'SpecialToken' in item:
                    self.prefix_ids += post['special_tokens'][item['SpecialToken']['id']]['ids']
                else:
                    break
        self._cache = {}

    @classmethod
    def from_file(cls, path):
        with open(path, encoding='utf-8') as f:
            return cls(json.load(f))

    def _encode_plain(self, text):
        ids = []
        for piece in pretokenize(text):
            cached = self._cache.get(piece)
            if cached is None:
                cached = [self.vocab[s] for s in bpe_merge(piece, self.ranks)]
                self._cache[piece] = cached
            ids.extend(cached)
        return ids

    def encode(self, text, add_special_tokens=False):
        ids = list(self.prefix_ids) if add_special_tokens else []
        pos = 0
        for m in self._added_re.finditer(text):
            ids += self._encode_plain(text[pos:m.start()])
            ids.append(self.added[m.group(0)])
            pos = m.end()
        ids += self._encode_plain(text[pos:])
        return ids

    def decode(self, ids, skip_special_tokens=False):
        out, pending = [], []
        for i in ids:
            tok = self.id_to_token[i]
            if tok in self.added:
                out.append(bytes(pending).decode('utf-8', errors='replace'))
                pending = []
                if not skip_special_tokens:
                    out.append(tok)
            else:
                pending.extend(CHAR_TO_BYTE[c] for c in tok)
        out.append(bytes(pending).decode('utf-8', errors='replace'))
        return ''.join(out)

"""A Llama decoder in plain torch with the Hugging Face LlamaForCausalLM math and tensor names
(formats.md §6.2, §6.3), plus a minimal safetensors reader/writer (formats.md §7).

Written for Debian's torch 1.13 (CPU); the parameter names of `LlamaForCausalLM` below are
exactly the HF checkpoint names, so `state_dict()` is what model.safetensors holds (minus the
tied lm_head).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def llama3_inv_freq(inv_freq, rp):
    """rope_type "llama3" (formats.md §6.3); only used to check this code against the
    llama3-tiny reference fixture."""
    low_wl = rp['original_max_position_embeddings'] / rp['low_freq_factor']
    high_wl = rp['original_max_position_embeddings'] / rp['high_freq_factor']
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wl, inv_freq / rp['factor'], inv_freq)
    s = ((rp['original_max_position_embeddings'] / wavelen - rp['low_freq_factor'])
         / (rp['high_freq_factor'] - rp['low_freq_factor']))
    smoothed = (1 - s) * scaled / rp['factor'] + s * scaled
    medium = (wavelen >= high_wl) & (wavelen <= low_wl)
    return torch.where(medium, smoothed, scaled)


def rope_cos_sin(cfg, positions):
    d = cfg['head_dim']
    rp = cfg['rope_parameters']
    inv_freq = 1.0 / (rp['rope_theta'] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    if rp.get('rope_type', 'default') == 'llama3':
        inv_freq = llama3_inv_freq(inv_freq, rp)
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, d = cfg['hidden_size'], cfg['head_dim']
        self.heads, self.kv_heads, self.head_dim = (cfg['num_attention_heads'],
                                                    cfg['num_key_value_heads'], d)
        self.q_proj = nn.Linear(h, self.heads * d, bias=False)
        self.k_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.v_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.o_proj = nn.Linear(self.heads * d, h, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        scores = (q @ k.transpose(-1, -2)) * self.head_dim ** -0.5 + mask
        probs = F.softmax(scores.float(), dim=-1).to(q.dtype)
        out = (probs @ v).transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, i = cfg['hidden_size'], cfg['intermediate_size']
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg['hidden_size'], cfg['rms_norm_eps'])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg['hidden_size'], cfg['rms_norm_eps'])
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg['vocab_size'], cfg['hidden_size'])
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg['num_hidden_layers']))
        self.norm = RMSNorm(cfg['hidden_size'], cfg['rms_norm_eps'])


class LlamaForCausalLM(nn.Module):
    """With tied embeddings (the demo) the output projection is model.embed_tokens.weight."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = LlamaModel(cfg)
        if not cfg.get('tie_word_embeddings', True):
            self.lm_head = nn.Linear(cfg['hidden_size'], cfg['vocab_size'], bias=False)
        std = cfg['initializer_range']
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=std)
                if name.endswith(('o_proj.weight', 'down_proj.weight')):
                    p.data /= math.sqrt(2 * cfg['num_hidden_layers'])

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = rope_cos_sin(self.cfg, torch.arange(t))
        mask = torch.full((t, t), torch.finfo(torch.float32).min).triu(1)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        head = self.lm_head.weight if hasattr(self, 'lm_head') else self.model.embed_tokens.weight
        return self.model.norm(x) @ head.t()


def config_json(cfg):
    """config.json as transformers 5 writes it for LlamaConfig (keys sorted like HF)."""
    out = {
        'architectures': ['LlamaForCausalLM'],
        'attention_bias': False,
        'attention_dropout': 0.0,
        'bos_token_id': cfg['bos_token_id'],
        'dtype': 'float32',
        'eos_token_id': cfg['eos_token_id'],
        'head_dim': cfg['head_dim'],
        'hidden_act': 'silu',
        'hidden_size': cfg['hidden_size'],
        'initializer_range': cfg['initializer_range'],
        'intermediate_size': cfg['intermediate_size'],
        'max_position_embeddings': cfg['max_position_embeddings'],
        'mlp_bias': False,
        'model_type': 'llama',
        'num_attention_heads': cfg['num_attention_heads'],
        'num_hidden_layers': cfg['num_hidden_layers'],
        'num_key_value_heads': cfg['num_key_value_heads'],
        'pad_token_id': cfg['pad_token_id'],
        'pretraining_tp': 1,
        'rms_norm_eps': cfg['rms_norm_eps'],
        'rope_parameters': cfg['rope_parameters'],
        'tie_word_embeddings': True,
        'transformers_version': '5.17.0',
        'use_cache': True,
        'vocab_size': cfg['vocab_size'],
    }
    return out


def generation_config_json(cfg):
    return {
        '_from_model_config': True,
        'bos_token_id': cfg['bos_token_id'],
        'eos_token_id': cfg['eos_token_id'],
        'output_attentions': False,
        'output_hidden_states': False,
        'pad_token_id': cfg['pad_token_id'],
        'transformers_version': '5.17.0',
        'use_cache': True,
    }


def save_safetensors(tensors, path, metadata=None):
    """F32 tensors, laid out like the Rust writer: sorted by name (one dtype), header padded
    with spaces to a multiple of 8."""
    header = {'__metadata__': metadata or {'format': 'pt'}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = tensors[name].detach().to(torch.float32).contiguous().numpy()
        data = arr.astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(arr.shape),
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(',', ':')).encode('utf-8')
    raw += b' ' * (-len(raw) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)


def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    dtypes = {'F32': '<f4', 'I64': '<i8'}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        b, e = info['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(buf[b:e], dtype=dtypes[info['dtype']])
                                     .copy().reshape(info['shape']))
    return out


def load_model(folder):
    with open(f'{folder}/config.json') as f:
        cfg = json.load(f)
    model = LlamaForCausalLM(cfg)
    model.load_state_dict(load_safetensors(f'{folder}/model.safetensors'))
    return model


@torch.no_grad()
def generate_greedy(model, ids, max_new_tokens, stop_ids):
    """Greedy decoding without a KV cache (the demo model is small enough)."""
    ids = list(ids)
    out = []
    for _ in range(max_new_tokens):
        ctx = ids[-model.cfg['max_position_embeddings']:]
        nxt = int(model(torch.tensor([ctx]))[0, -1].argmax())
        if nxt in stop_ids:
            break
        ids.append(nxt)
        out.append(nxt)
    return out

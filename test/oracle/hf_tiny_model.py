#!/usr/bin/python3
"""Writes a tiny random Hugging Face checkpoint of one family and its logits, computed in PyTorch.

Usage: hf_tiny_model.py OUT_DIR FAMILY DTYPE SHARDS [ROPE_SCALING_JSON]  (FAMILY llama|mistral|qwen2|qwen3, DTYPE F32|F16|BF16)
Writes OUT_DIR/config.json and model.safetensors (or SHARDS shards + model.safetensors.index.json), then prints
JSON {"ids": [...], "logits": [[...] per position]} for a fixed token sequence. The forward follows Hugging
Face's modeling_llama / qwen2 / qwen3 (rotate-half RoPE, GQA, q/k/v biases for qwen2, q/k RMSNorm for qwen3)."""
import json
import os
import struct
import sys

import torch

out_dir, family, dtype, shards = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rope_scaling = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None  # optional config.json rope_scaling (llama3)
torch.manual_seed({"llama": 1, "mistral": 2, "qwen2": 3, "qwen3": 4}[family])
H, KV, HD, D, F, L, V = 4, 2, 16, 48, 96, 2, 97  # head_dim 16 ≠ D/H (= 12) exercises explicit head_dim
cfg = {"model_type": family, "hidden_size": D, "intermediate_size": F, "num_hidden_layers": L,
       "num_attention_heads": H, "num_key_value_heads": KV, "head_dim": HD, "vocab_size": V,
       "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 500.0,
       "tie_word_embeddings": family == "qwen3"}
if rope_scaling:
    cfg["rope_scaling"] = rope_scaling
w = {"model.embed_tokens.weight": torch.randn(V, D), "model.norm.weight": 1 + 0.1 * torch.randn(D)}
if not cfg["tie_word_embeddings"]:
    w["lm_head.weight"] = torch.randn(V, D) * 0.2
for i in range(L):
    p = f"model.layers.{i}."
    w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(D)
    w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(D)
    w[p + "self_attn.q_proj.weight"] = torch.randn(H * HD, D) * 0.2
    w[p + "self_attn.k_proj.weight"] = torch.randn(KV * HD, D) * 0.2
    w[p + "self_attn.v_proj.weight"] = torch.randn(KV * HD, D) * 0.2
    w[p + "self_attn.o_proj.weight"] = torch.randn(D, H * HD) * 0.2
    w[p + "mlp.gate_proj.weight"] = torch.randn(F, D) * 0.2
    w[p + "mlp.up_proj.weight"] = torch.randn(F, D) * 0.2
    w[p + "mlp.down_proj.weight"] = torch.randn(D, F) * 0.2
    if family == "qwen2":
        for n, rows in (("q", H * HD), ("k", KV * HD), ("v", KV * HD)):
            w[p + f"self_attn.{n}_proj.bias"] = torch.randn(rows) * 0.5
    if family == "qwen3":
        w[p + "self_attn.q_norm.weight"] = 1 + 0.1 * torch.randn(HD)
        w[p + "self_attn.k_norm.weight"] = 1 + 0.1 * torch.randn(HD)

# Round the weights to the stored dtype so both sides compute with the same values.
tdtype = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
w = {k: v.to(tdtype) for k, v in w.items()}


def write_safetensors(path, tensors):
    header, data, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        data.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(data))


os.makedirs(out_dir, exist_ok=True)
json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"))
names = sorted(w)
if shards <= 1:
    write_safetensors(os.path.join(out_dir, "model.safetensors"), w)
else:
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: w[n] for n in names[s::shards]}
        write_safetensors(os.path.join(out_dir, fname), part)
        weight_map.update({n: fname for n in part})
    json.dump({"metadata": {}, "weight_map": weight_map}, open(os.path.join(out_dir, "model.safetensors.index.json"), "w"))

w = {k: v.float() for k, v in w.items()}


def rmsnorm(x, g, eps=cfg["rms_norm_eps"]):
    return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    return torch.cat((-x[..., HD // 2:], x[..., :HD // 2]), -1)


ids = [3, 17, 42, 5, 96, 0, 61, 8, 23, 77]
T = len(ids)
inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))
if rope_scaling:
    from rope_scaling import from_hf
    inv_freq = from_hf(inv_freq, rope_scaling)
freqs = torch.outer(torch.arange(T).float(), inv_freq)
emb = torch.cat((freqs, freqs), -1)
cos, sin = emb.cos(), emb.sin()
x = w["model.embed_tokens.weight"][ids]
mask = torch.full((T, T), float("-inf")).triu(1)
for i in range(L):
    p = f"model.layers.{i}."
    h = rmsnorm(x, w[p + "input_layernorm.weight"])
    q, k, v = (torch.nn.functional.linear(h, w[p + f"self_attn.{n}_proj.weight"], w.get(p + f"self_attn.{n}_proj.bias"))
               for n in "qkv")
    q, k, v = q.view(T, H, HD), k.view(T, KV, HD), v.view(T, KV, HD)
    if family == "qwen3":
        q, k = rmsnorm(q, w[p + "self_attn.q_norm.weight"]), rmsnorm(k, w[p + "self_attn.k_norm.weight"])
    q = q * cos[:, None] + rotate_half(q) * sin[:, None]
    k = k * cos[:, None] + rotate_half(k) * sin[:, None]
    k = k[:, :, None].expand(T, KV, H // KV, HD).reshape(T, H, HD)
    v = v[:, :, None].expand(T, KV, H // KV, HD).reshape(T, H, HD)
    att = torch.softmax(torch.einsum("thd,shd->hts", q, k) / HD ** 0.5 + mask, -1)
    x = x + torch.nn.functional.linear(torch.einsum("hts,shd->thd", att, v).reshape(T, H * HD), w[p + "self_attn.o_proj.weight"])
    h = rmsnorm(x, w[p + "post_attention_layernorm.weight"])
    mlp = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)
    x = x + mlp @ w[p + "mlp.down_proj.weight"].T
head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
logits = rmsnorm(x, w["model.norm.weight"]) @ head.T
print(json.dumps({"ids": ids, "logits": logits.tolist()}))

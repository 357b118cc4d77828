#!/usr/bin/python3
"""Independent reference for llama2.c greedy decoding, in PyTorch, read straight from the .bin files.

Follows llama2.c's own semantics (interleaved RoPE on the unpermuted weights, run.c's tokenizer and
decode rules), so it shares nothing with webtune's loader, permutation, kernels or tokenizer.
Usage: llama2c_reference.py MODEL.bin TOKENIZER.bin PROMPT MAX_NEW_TOKENS  → JSON {"prompt_ids", "ids", "text",
"seconds"} on stdout ("seconds": the decoding loop alone, for bench/decode.ts's PyTorch peer figure).
"""
import json
import struct
import sys
import time

import torch


def load_model(path):
    data = open(path, "rb").read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    floats = torch.frombuffer(bytearray(data[28:]), dtype=torch.float32)
    hd = dim // heads
    at = 0

    def take(*shape):
        nonlocal at
        n = 1
        for s in shape:
            n *= s
        t = floats[at:at + n].reshape(shape)
        at += n
        return t

    w = {"emb": take(vocab, dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv_heads * hd, dim), "wv": take(layers, kv_heads * hd, dim),
         "wo": take(layers, dim, dim), "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim),
         "w2": take(layers, dim, hidden), "w3": take(layers, hidden, dim), "rms_final": take(dim)}
    take(seq_len, hd)  # freq_cis real+imag
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, seq_len=seq_len, hd=hd)
    return cfg, w


def load_tokenizer(path, vocab):
    data = open(path, "rb").read()
    at = 4
    pieces, scores = [], []
    for _ in range(vocab):
        score, n = struct.unpack("<fi", data[at:at + 8])
        at += 8
        pieces.append(data[at:at + n])
        at += n
        scores.append(score)
    return pieces, scores


def encode(text, pieces, scores):
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    ids = [1]
    if text:
        ids.append(lookup[b" "])
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        j = i + 1
        while j < len(raw) and (raw[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        cp = raw[i:j]
        if cp in lookup:
            ids.append(lookup[cp])
        else:
            ids.extend(b + 3 for b in cp)
        i = j
    while True:
        best, best_i = -1e10, -1
        for k in range(len(ids) - 1):
            merged = pieces[ids[k]] + pieces[ids[k + 1]]
            if merged in lookup and scores[lookup[merged]] > best:
                best, best_i = scores[lookup[merged]], k
        if best_i < 0:
            break
        ids[best_i:best_i + 2] = [lookup[pieces[ids[best_i]] + pieces[ids[best_i + 1]]]]
    return ids


def decode_piece(prev, tok, pieces):
    p = pieces[tok]
    if prev == 1 and p.startswith(b" "):
        p = p[1:]
    if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
        p = bytes([int(p[3:5], 16)])
    return p


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w


def rope_interleaved(x, pos, hd):
    # llama2.c: rotate pairs (2i, 2i+1) by pos * 10000^(-2i/hd)
    i = torch.arange(0, hd, 2, dtype=torch.float64)
    ang = pos * torch.pow(10000.0, -i / hd)
    c, s = torch.cos(ang).float(), torch.sin(ang).float()
    x = x.reshape(*x.shape[:-1], hd // 2, 2)
    a, b = x[..., 0], x[..., 1]
    return torch.stack([a * c - b * s, a * s + b * c], -1).reshape(*x.shape[:-2], hd)


def main():
    model_path, tok_path, prompt, max_new = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cfg, w = load_model(model_path)
    pieces, scores = load_tokenizer(tok_path, cfg["vocab"])
    prompt_ids = encode(prompt, pieces, scores)
    H, KV, hd, L = cfg["heads"], cfg["kv_heads"], cfg["hd"], cfg["layers"]
    kc = torch.zeros(L, cfg["seq_len"], KV, hd)
    vc = torch.zeros(L, cfg["seq_len"], KV, hd)
    token, out, text = prompt_ids[0], [], b""
    start = time.perf_counter()
    for pos in range(cfg["seq_len"]):
        if len(out) >= max_new:
            break
        x = w["emb"][token]
        for l in range(L):
            xn = rmsnorm(x, w["rms_att"][l])
            q = rope_interleaved((w["wq"][l] @ xn).reshape(H, hd), pos, hd)
            k = rope_interleaved((w["wk"][l] @ xn).reshape(KV, hd), pos, hd)
            kc[l, pos], vc[l, pos] = k, (w["wv"][l] @ xn).reshape(KV, hd)
            keys = kc[l, :pos + 1].repeat_interleave(H // KV, dim=1)  # [S, H, hd]
            vals = vc[l, :pos + 1].repeat_interleave(H // KV, dim=1)
            att = torch.softmax(torch.einsum("hd,shd->hs", q, keys) / hd ** 0.5, -1)
            x = x + w["wo"][l] @ torch.einsum("hs,shd->hd", att, vals).reshape(-1)
            xn = rmsnorm(x, w["rms_ffn"][l])
            x = x + w["w2"][l] @ (torch.nn.functional.silu(w["w1"][l] @ xn) * (w["w3"][l] @ xn))
        logits = w["wcls"] @ rmsnorm(x, w["rms_final"])
        if pos < len(prompt_ids) - 1:
            nxt = prompt_ids[pos + 1]
        else:
            nxt = int(torch.argmax(logits))
            if nxt in (1, 2):
                break
            out.append(nxt)
            text += decode_piece(token, nxt, pieces)
        token = nxt
    seconds = time.perf_counter() - start
    print(json.dumps({"prompt_ids": prompt_ids, "ids": out, "text": text.decode("utf-8", "replace"), "seconds": seconds}))


if __name__ == "__main__":
    main()

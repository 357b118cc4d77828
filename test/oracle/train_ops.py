#!/usr/bin/python3
"""PyTorch autograd oracle for the training kernels (test/train-ops.test.ts).

Usage: train_ops.py CASES.json  — reads {"cases": [{"op": ..., inputs as flat lists, shapes}, ...]} and prints
{"results": [{name: flat list, ...} per case]}. Everything is computed in float64 from the float32 inputs, so the
results are the exact math the kernels approximate. Gradients come from autograd (y.backward(dy)), never from
hand-written backward formulas. Written for torch 1.13 (no scaled_dot_product_attention; GQA by expand+reshape).
"""
import json
import sys

import torch

from torch_ref import attention, rmsnorm, rope  # shared with sft_grad.py
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def t(a, *shape, grad=False):
    x = torch.tensor(a, dtype=torch.float64).reshape(*shape)
    return x.requires_grad_(grad)


def ints(a, *shape):
    return torch.tensor(a, dtype=torch.int64).reshape(*shape)


def flat(x):
    return x.detach().reshape(-1).tolist()


def case(c):
    op = c["op"]
    if op == "linear":  # y = x·Wᵀ: dX = dY·W, dW = dW0 + dYᵀ·X
        M, N, K = c["M"], c["N"], c["K"]
        x, w = t(c["x"], M, K, grad=True), t(c["w"], N, K, grad=True)
        (x @ w.T).backward(t(c["dy"], M, N))
        return {"dx": flat(x.grad), "dw": flat(t(c["dw0"], N, K) + w.grad)}
    if op == "rmsnorm":
        rows, dim = c["rows"], c["dim"]
        x, w = t(c["x"], rows, dim, grad=True), t(c["w"], dim, grad=True)
        rmsnorm(x, w, c["eps"]).backward(t(c["dy"], rows, dim))
        return {"dx": flat(x.grad), "dw": flat(t(c["dw0"], dim) + w.grad)}
    if op == "rope":
        rows, H, HD = c["rows"], c["nHeads"], c["headDim"]
        x = t([0.0] * (rows * H * HD), rows, H, HD, grad=True)
        rope(x, ints(c["pos"], rows), c["theta"]).backward(t(c["dy"], rows, H, HD))
        return {"dx": flat(x.grad)}
    if op == "attention":
        B, T, H, KV, HD = c["B"], c["T"], c["nHeads"], c["nKvHeads"], c["headDim"]
        q, k, v = t(c["q"], B * T, H * HD, grad=True), t(c["k"], B * T, KV * HD, grad=True), t(c["v"], B * T, KV * HD, grad=True)
        seg = ints(c["seg"], B * T) if c.get("seg") is not None else None
        out, lse = attention(q, k, v, seg, B, T, H, KV, HD)
        out.backward(t(c["dout"], B * T, H * HD))
        return {"out": flat(out), "lse": flat(lse), "dq": flat(q.grad), "dk": flat(k.grad), "dv": flat(v.grad)}
    if op == "swiglu":
        n = c["n"]
        g, u = t(c["gate"], n, grad=True), t(c["up"], n, grad=True)
        (F.silu(g) * u).backward(t(c["dout"], n))
        return {"dgate": flat(g.grad), "dup": flat(u.grad)}
    if op == "embedding":
        V, D, rows = c["vocab"], c["dim"], c["rows"]
        table = t([0.0] * (V * D), V, D, grad=True)
        table[ints(c["ids"], rows)].backward(t(c["dout"], rows, D))
        return {"dtable": flat(t(c["dt0"], V, D) + table.grad)}
    if op == "ce":
        rows, D, V = c["rows"], c["dim"], c["vocab"]
        h, w = t(c["hidden"], rows, D, grad=True), t(c["head"], V, D, grad=True)
        loss = F.cross_entropy(h @ w.T, ints(c["labels"], rows), reduction="none", ignore_index=-100)
        (loss.sum() * c["scale"]).backward()
        return {"loss": flat(loss), "dhidden": flat(h.grad), "dhead": flat(t(c["dhead0"], V, D) + w.grad)}
    if op == "adamw":
        n = c["n"]
        p = torch.nn.Parameter(torch.tensor(c["param"], dtype=torch.float32))  # float32 like the kernels' state
        opt = torch.optim.AdamW([p], lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"], weight_decay=c["weightDecay"])
        steps = []
        for g in c["grads"]:
            p.grad = torch.tensor(g, dtype=torch.float32).reshape(n)
            opt.step()
            steps.append(p.detach().double().tolist())
        return {"params": [x for s in steps for x in s]}
    if op == "clip":
        ps = [torch.nn.Parameter(torch.zeros(len(g))) for g in c["grads"]]
        for p, g in zip(ps, c["grads"]):
            p.grad = torch.tensor(g, dtype=torch.float64)
        norm = torch.nn.utils.clip_grad_norm_(ps, c["maxNorm"])
        return {"norm": [float(norm)], "grads": [x for p in ps for x in p.grad.tolist()]}
    if op == "llama":
        return llama(c)
    raise ValueError(op)


def llama(c):
    """Loss (mean over trained tokens) and parameter gradients of a tiny Llama on a packed batch."""
    cfg, B, T = c["config"], c["B"], c["T"]
    D, F_, H, KV, HD, V, L = (cfg[k] for k in ("hiddenSize", "intermediateSize", "numHeads", "numKvHeads", "headDim", "vocabSize", "numLayers"))
    eps, theta = cfg["rmsNormEps"], cfg["ropeTheta"]
    shapes = {"embedTokens": (V, D), "norm": (D,), "lmHead": (V, D)}
    for i in range(L):
        shapes.update({f"layers.{i}.{n}": s for n, s in (("inputNorm", (D,)), ("q", (H * HD, D)), ("k", (KV * HD, D)),
                       ("v", (KV * HD, D)), ("o", (D, H * HD)), ("postNorm", (D,)), ("gate", (F_, D)), ("up", (F_, D)), ("down", (D, F_)))})
    w = {n: t(a, *shapes[n], grad=True) for n, a in c["weights"].items()}
    ids, pos = ints(c["ids"], B * T), ints(c["positions"], B * T)
    seg = ints(c["segments"], B * T) if c.get("segments") is not None else None
    x = w["embedTokens"][ids]
    for i in range(L):
        p = f"layers.{i}."
        h = rmsnorm(x, w[p + "inputNorm"], eps)
        q = rope((h @ w[p + "q"].T).reshape(B * T, H, HD), pos, theta).reshape(B * T, H * HD)
        k = rope((h @ w[p + "k"].T).reshape(B * T, KV, HD), pos, theta).reshape(B * T, KV * HD)
        att, _ = attention(q, k, h @ w[p + "v"].T, seg, B, T, H, KV, HD)
        x = x + att @ w[p + "o"].T
        h = rmsnorm(x, w[p + "postNorm"], eps)
        x = x + (F.silu(h @ w[p + "gate"].T) * (h @ w[p + "up"].T)) @ w[p + "down"].T
    head = w.get("lmHead", w["embedTokens"])
    logits = rmsnorm(x, w["norm"], eps) @ head.T
    loss = F.cross_entropy(logits, ints(c["labels"], B * T), ignore_index=-100)  # mean over trained tokens
    loss.backward()
    return {"loss": [float(loss)], **{n: flat(v.grad) for n, v in w.items()}}


cases = json.load(open(sys.argv[1]))["cases"]
print(json.dumps({"results": [case(c) for c in cases]}))

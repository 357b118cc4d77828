#!/usr/bin/python3
"""PyTorch oracle for the SFT trainer (test/sft-grad.test.ts): a Llama/Qwen2/Qwen3-style model (q/k/v biases,
per-head q/k RMSNorm, GQA, tied or untied head) with optional LoRA adapters, as Hugging Face and PEFT compute it.

Usage: sft_grad.py CASES.json — reads {"cases": [...]} and prints {"results": [...]}: per case the loss (mean over
trained tokens), the gradient of every trainable tensor (autograd, float64), and the trainable tensors after one
clip_grad_norm_ + torch.optim.AdamW step (float32 state, as the kernels) with Hugging Face's weight-decay groups
(no decay for biases and norms). Tensor names are the trainer's (models/llama-train.ts). Written for torch 1.13.
Mixed precision: a case's optional "masters" are the f32 values AdamW updates, while "weights" (their 16-bit
rounded copies) are what the forward and backward read, as in fp16 training with master weights. "autocast":
"bf16" runs the forward in float32 under torch.autocast("cpu", torch.bfloat16) instead (torch's own mixed
precision: every matmul's inputs and outputs rounded to bfloat16), for comparison.
"""
import contextlib
import json
import sys

import torch
import torch.nn.functional as F


from torch_ref import attention, rmsnorm, rope  # shared with train_ops.py
from rope_scaling import from_llama_config


def run(c):
    cfg, B, T = c["config"], c["B"], c["T"]
    D, F_, H, KV, HD, V, L = (cfg[k] for k in ("hiddenSize", "intermediateSize", "numHeads", "numKvHeads", "headDim", "vocabSize", "numLayers"))
    eps, theta = cfg["rmsNormEps"], cfg["ropeTheta"]
    shapes = {"embedTokens": (V, D), "norm": (D,), "lmHead": (V, D)}
    dims = {"q": (H * HD, D), "k": (KV * HD, D), "v": (KV * HD, D), "o": (D, H * HD), "gate": (F_, D), "up": (F_, D), "down": (D, F_)}
    lora = c.get("lora")
    for i in range(L):
        p = f"layers.{i}."
        shapes.update({p + "inputNorm": (D,), p + "postNorm": (D,), p + "qNorm": (HD,), p + "kNorm": (HD,),
                       p + "qBias": (H * HD,), p + "kBias": (KV * HD,), p + "vBias": (KV * HD,)})
        for n, (o, inn) in dims.items():
            shapes[p + n] = (o, inn)
            if lora:
                shapes[p + n + ".loraA"] = (lora["rank"], inn)
                shapes[p + n + ".loraB"] = (o, lora["rank"])
    trainable = set(c["trainable"])
    autocast = c.get("autocast") == "bf16"
    dtype = torch.float32 if autocast else torch.float64
    w = {n: torch.tensor(a, dtype=dtype).reshape(shapes[n]).requires_grad_(n in trainable) for n, a in c["weights"].items()}
    ids, pos = torch.tensor(c["ids"]).long(), torch.tensor(c["positions"]).long()
    seg = torch.tensor(c["segments"]).long() if c.get("segments") is not None else None
    scaling = lora["alpha"] / lora["rank"] if lora else 0.0

    def lin(p, n, x):
        y = x @ w[p + n].T
        if p + n + "Bias" in w:
            y = y + w[p + n + "Bias"]
        if p + n + ".loraA" in w:  # PEFT: lora_B(lora_A(dropout(x))) * scaling
            y = y + (x @ w[p + n + ".loraA"].T) @ w[p + n + ".loraB"].T * scaling
        return y

    def forward():
        x = w["embedTokens"][ids]
        for i in range(L):
            p = f"layers.{i}."
            h = rmsnorm(x, w[p + "inputNorm"], eps)
            q, k = lin(p, "q", h).reshape(B * T, H, HD), lin(p, "k", h).reshape(B * T, KV, HD)
            if p + "qNorm" in w:
                q, k = rmsnorm(q, w[p + "qNorm"], eps), rmsnorm(k, w[p + "kNorm"], eps)
            scale_inv = lambda inv: from_llama_config(inv, cfg.get("ropeScaling"))  # noqa: E731
            q, k = rope(q, pos, theta, scale_inv).reshape(B * T, H * HD), rope(k, pos, theta, scale_inv).reshape(B * T, KV * HD)
            att, _ = attention(q, k, lin(p, "v", h), seg, B, T, H, KV, HD)
            x = x + lin(p, "o", att)
            h = rmsnorm(x, w[p + "postNorm"], eps)
            x = x + lin(p, "down", F.silu(lin(p, "gate", h)) * lin(p, "up", h))
        logits = rmsnorm(x, w["norm"], eps) @ w.get("lmHead", w["embedTokens"]).T
        loss = F.cross_entropy(logits.float() if autocast else logits, torch.tensor(c["labels"]).long(), ignore_index=-100)
        return loss

    with torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext():
        loss = forward()
    loss.backward()
    out = {"loss": [float(loss)]}
    out.update({"grad." + n: w[n].grad.reshape(-1).tolist() for n in trainable})

    o = c["optim"]
    masters = c.get("masters") or {}
    ps = {n: torch.nn.Parameter(torch.tensor(masters[n], dtype=torch.float32).reshape(shapes[n]) if n in masters
                                else w[n].detach().float().clone()) for n in sorted(trainable)}
    for n, prm in ps.items():
        prm.grad = w[n].grad.float()
    torch.nn.utils.clip_grad_norm_(list(ps.values()), o["maxGradNorm"])
    no_decay = [prm for n, prm in ps.items() if n.endswith("Bias") or n.lower().endswith("norm")]
    decay = [prm for n, prm in ps.items() if not (n.endswith("Bias") or n.lower().endswith("norm"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": o["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    opt.step()
    out.update({"after." + n: prm.detach().double().reshape(-1).tolist() for n, prm in ps.items()})
    return out


torch.set_default_dtype(torch.float64)
cases = json.load(open(sys.argv[1]))["cases"]
print(json.dumps({"results": [run(c) for c in cases]}))

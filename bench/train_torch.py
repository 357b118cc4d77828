#!/usr/bin/python3
"""PyTorch side of bench/train.ts: training tokens/s and max RSS of one configuration on the CPU (2 threads).

Usage: train_torch.py '{"config": LlamaConfig, "B", "T", "train_type": "lora"|"full", "lora": {rank, alpha, dropout},
"warmup", "steps", "checkpointing", "device": "cpu"|"cuda", "autocast": null|"bf16"}' — prints one JSON line
{tokens_per_s, max_rss_bytes, loss} (on CUDA also max_cuda_bytes; steps timed with torch.cuda.synchronize()).
On CUDA the attention is F.scaled_dot_product_attention (flash/efficient kernels) where torch has it, and
"autocast": "bf16" runs the step under torch.autocast(bfloat16) with float32 master weights (ms-swift's bf16 training
keeps bf16 weights; autocast is the like-for-like peer of webtune's f32-master mixed precision). gpu-check imports it.
The model is a plain Llama (RMSNorm, rotate-half RoPE, causal GQA attention, SwiGLU, tied or untied head) in
float32 with random weights, LoRA (PEFT semantics) on every linear layer when asked; the loss is Hugging Face's
(full logits + cross-entropy over trained tokens); one step is forward, backward, clip_grad_norm_(1.0) and AdamW.
The token ids are the same hash of the position as bench/train.ts. Written for torch 1.13 (Debian) and torch 2.x (the GPU machine).
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint



def blas_library():
    """The libblas this process loaded (Debian's torch uses the system's alternative unless LD_LIBRARY_PATH says otherwise)."""
    with open('/proc/self/maps') as maps:
        paths = {line.split()[-1] for line in maps if 'blas' in line.split()[-1]}
    return sorted(paths)[0] if paths else 'none'
torch.manual_seed(0)


class Linear(nn.Module):
    def __init__(self, n_in, n_out, lora, bias=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / math.sqrt(n_in), requires_grad=lora is None)
        self.bias = nn.Parameter(torch.zeros(n_out), requires_grad=lora is None) if bias else None
        self.lora = lora
        if lora:
            self.A = nn.Parameter(torch.empty(lora['rank'], n_in).uniform_(-1 / math.sqrt(n_in), 1 / math.sqrt(n_in)))
            self.B = nn.Parameter(torch.zeros(n_out, lora['rank']))
            self.drop = nn.Dropout(lora['dropout'])
            self.scale = lora['alpha'] / lora['rank']

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.lora:
            y = y + F.linear(F.linear(self.drop(x), self.A), self.B) * self.scale
        return y


class RMSNorm(nn.Module):
    def __init__(self, dim, eps, trainable):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim), requires_grad=trainable)
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., h:], x[..., :h]), -1) * sin


class Layer(nn.Module):
    def __init__(self, c, lora):
        super().__init__()
        D, F_, H, KV, HD = c['hiddenSize'], c['intermediateSize'], c['numHeads'], c['numKvHeads'], c['headDim']
        self.H, self.KV, self.HD = H, KV, HD
        self.inorm, self.pnorm = RMSNorm(D, c['rmsNormEps'], lora is None), RMSNorm(D, c['rmsNormEps'], lora is None)
        bias = c.get('attentionBias', False)  # Qwen2's q/k/v biases
        self.q, self.k, self.v = Linear(D, H * HD, lora, bias), Linear(D, KV * HD, lora, bias), Linear(D, KV * HD, lora, bias)
        self.o = Linear(H * HD, D, lora)
        self.gate, self.up, self.down = Linear(D, F_, lora), Linear(D, F_, lora), Linear(F_, D, lora)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.inorm(x)
        q = self.q(h).view(B, T, self.H, self.HD).transpose(1, 2)
        k = self.k(h).view(B, T, self.KV, self.HD).transpose(1, 2)
        v = self.v(h).view(B, T, self.KV, self.HD).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if self.KV != self.H:
            k, v = k.repeat_interleave(self.H // self.KV, 1), v.repeat_interleave(self.H // self.KV, 1)
        if SDPA:
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.HD) + mask, -1) @ v
        x = x + self.o(att.transpose(1, 2).reshape(B, T, -1))
        h = self.pnorm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, c, lora, checkpointing):
        super().__init__()
        full = lora is None
        self.embed = nn.Parameter(torch.randn(c['vocabSize'], c['hiddenSize']) * 0.02, requires_grad=full)
        self.layers = nn.ModuleList(Layer(c, lora) for _ in range(c['numLayers']))
        self.norm = RMSNorm(c['hiddenSize'], c['rmsNormEps'], full)
        self.head = self.embed if c['tieWordEmbeddings'] else nn.Parameter(torch.randn(c['vocabSize'], c['hiddenSize']) * 0.02, requires_grad=full)
        self.theta, self.HD, self.checkpointing = c['ropeTheta'], c['headDim'], checkpointing

    def forward(self, ids, labels):
        T = ids.shape[1]
        dev = ids.device
        inv = 1.0 / (self.theta ** (torch.arange(0, self.HD, 2, device=dev).float() / self.HD))
        ang = torch.arange(T, device=dev).float()[:, None] * inv[None, :]
        ang = torch.cat((ang, ang), -1)
        cos, sin = ang.cos(), ang.sin()
        mask = torch.full((T, T), float('-inf'), device=dev).triu(1)
        x = F.embedding(ids, self.embed)
        if self.checkpointing and not x.requires_grad:
            x.requires_grad_(True)
        for layer in self.layers:
            x = checkpoint(layer, x, cos, sin, mask) if self.checkpointing else layer(x, cos, sin, mask)
        logits = F.linear(self.norm(x), self.head)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)


def batch_at(step, B, T, vocab):
    rows = B * T
    i = torch.arange(rows, dtype=torch.int64) + step * rows + 1
    ids = ((i * 2654435761) % 2 ** 32) % vocab
    labels = torch.cat((ids[1:], ids[:1])).clone()
    labels[T - 1::T] = -100
    return ids.view(B, T), labels.view(B, T)


SDPA = False


def run(a):
    """One configuration's timing (see the module doc); returns the JSON-able result."""
    global SDPA
    c, B, T = a['config'], a['B'], a['T']
    device = torch.device(a.get('device', 'cpu'))
    cuda = device.type == 'cuda'
    SDPA = cuda and hasattr(F, 'scaled_dot_product_attention')
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (webtune's f32 path is true f32)
        torch.backends.cudnn.allow_tf32 = False
        torch.cuda.reset_peak_memory_stats()
    lora = a['lora'] if a['train_type'] == 'lora' else None
    model = Llama(c, lora, a.get('checkpointing', False)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1)
    amp = a.get('autocast') == 'bf16'
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    secs = []
    loss = None
    for s in range(a['warmup'] + a['steps']):
        ids, labels = (t.to(device) for t in batch_at(s, B, T, c['vocabSize']))
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = model(ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sync()
        if s >= a['warmup']:
            secs.append(time.perf_counter() - t0)
    secs.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {'tokens_per_s': B * T / secs[len(secs) // 2], 'step_s': secs[len(secs) // 2], 'max_rss_bytes': rss,
           'loss': loss.item(), 'blas': 'cuBLAS' if cuda else blas_library(), 'sdpa': SDPA, 'autocast': a.get('autocast')}
    if cuda:
        out['max_cuda_bytes'] = torch.cuda.max_memory_allocated()
    return out


if __name__ == '__main__':
    torch.set_num_threads(2)
    print(json.dumps(run(json.loads(sys.argv[1]))))

#!/usr/bin/env python3
"""PyTorch's side of bench/gpu-check.ts, one figure per call: gpu_check_torch.py KIND 'JSON' prints one JSON line.

KIND train:    bench/train_torch.py's step (same model, token ids, LoRA, AdamW), on args.device, fp32 or bf16 autocast.
KIND gemm:     torch.matmul in the layout given (NT: A·Bᵀ, NN: A·B, TN: Aᵀ·B), fp32 with TF32 off, and bf16: TFLOP/s.
KIND attention: causal GQA attention of B×T rows (H query heads, KV kv heads, head dim D), forward and forward +
               backward, fp32 and bf16: SDPA (FlashAttention on CUDA for bf16) where this torch has it, else softmax(QKᵀ)V.
KIND decode:   greedy decode of one sequence through an eager KV-cache loop over the same Llama/Qwen2 layer, fp32 and bf16.
KIND tokenize: Hugging Face tokenizers (Rust) encode MB/s, one call per document on one thread, as webtune's figure.
Timings: median of 3 repetitions after a warm-up; CUDA work is synchronized before each clock read.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_torch  # noqa: E402


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def timed(fn, device, reps):
    fn()
    sync(device)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync(device)
        times.append((time.perf_counter() - t0) / reps)
    return sorted(times)[1]


def gemm(a, device):
    torch.backends.cuda.matmul.allow_tf32 = False
    M, N, K, layout = a['M'], a['N'], a['K'], a['layout']
    out = {}
    for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        if device.type == 'cpu' and name == 'bf16':
            continue
        x = torch.randn(K, M, device=device, dtype=dtype) if layout == 'TN' else torch.randn(M, K, device=device, dtype=dtype)
        w = torch.randn(N, K, device=device, dtype=dtype) if layout == 'NT' else torch.randn(K, N, device=device, dtype=dtype)
        fn = {'NT': lambda: x @ w.t(), 'NN': lambda: x @ w, 'TN': lambda: x.t() @ w}[layout]
        sec = timed(fn, device, 20 if device.type == 'cuda' else 2)
        out[f'{name}_tflops'] = 2 * M * N * K / sec / 1e12
    out.setdefault('bf16_tflops', None)
    return out


def attention(a, device):
    B, T, H, KV, D = a['B'], a['T'], a['H'], a['KV'], a['D']
    sdpa = getattr(F, 'scaled_dot_product_attention', None)
    mask = torch.ones(T, T, device=device, dtype=torch.bool).tril()

    def attend(q, k, v):
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        if sdpa is not None:
            return sdpa(q, k, v, is_causal=True)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        return torch.softmax(s.masked_fill(~mask, float('-inf')), dim=-1) @ v

    out = {'sdpa': sdpa is not None}
    for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        if device.type == 'cpu' and name == 'bf16':
            continue
        q = torch.randn(B, H, T, D, device=device, dtype=dtype, requires_grad=True)
        k = torch.randn(B, KV, T, D, device=device, dtype=dtype, requires_grad=True)
        v = torch.randn(B, KV, T, D, device=device, dtype=dtype, requires_grad=True)
        dout = torch.randn(B, H, T, D, device=device, dtype=dtype)
        reps = 10 if device.type == 'cuda' else 1
        with torch.no_grad():
            out[f'{name}_forward_ms'] = timed(lambda: attend(q, k, v), device, reps) * 1e3
        out[f'{name}_forward_backward_ms'] = timed(lambda: torch.autograd.backward(attend(q, k, v), dout), device, reps) * 1e3
    return out


def decode(a, device):
    """A Llama/Qwen2 decoder with a KV cache, token by token (batch 1), as an eager PyTorch loop would run it."""
    c, n = a['config'], a['tokens']
    out = {}
    for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        if device.type == 'cpu' and name == 'bf16':
            out['bf16_tokens_per_s'] = None
            continue
        torch.manual_seed(0)
        model = train_torch.Llama(c, None, False).to(device=device, dtype=dtype).eval()
        D, H, KV, HD = c['hiddenSize'], c['numHeads'], c['numKvHeads'], c['headDim']
        inv = 1.0 / (c['ropeTheta'] ** (torch.arange(0, HD, 2, device=device).float() / HD))

        @torch.no_grad()
        def run(tokens):
            kc = [torch.zeros(1, KV, tokens + 8, HD, device=device, dtype=dtype) for _ in model.layers]
            vc = [torch.zeros_like(k) for k in kc]
            tok = torch.tensor([[1]], device=device)
            for p in range(tokens):
                ang = (p * inv)
                ang = torch.cat((ang, ang), -1)
                cos, sin = ang.cos().to(dtype), ang.sin().to(dtype)
                x = F.embedding(tok, model.embed)
                for i, l in enumerate(model.layers):
                    h = l.inorm(x)
                    q = l.q(h).view(1, 1, H, HD).transpose(1, 2)
                    k = l.k(h).view(1, 1, KV, HD).transpose(1, 2)
                    v = l.v(h).view(1, 1, KV, HD).transpose(1, 2)
                    q, k = train_torch.rotate(q, cos, sin), train_torch.rotate(k, cos, sin)
                    kc[i][:, :, p:p + 1] = k
                    vc[i][:, :, p:p + 1] = v
                    kk = kc[i][:, :, :p + 1].repeat_interleave(H // KV, 1)
                    vv = vc[i][:, :, :p + 1].repeat_interleave(H // KV, 1)
                    att = torch.softmax((q @ kk.transpose(-1, -2)).float() / math.sqrt(HD), -1).to(dtype) @ vv
                    x = x + l.o(att.transpose(1, 2).reshape(1, 1, -1))
                    h = l.pnorm(x)
                    x = x + l.down(F.silu(l.gate(h)) * l.up(h))
                logits = F.linear(model.norm(x), model.head)
                tok = logits[:, -1].argmax(-1, keepdim=True)
            return tok.item()

        run(4)
        sync(device)
        t0 = time.perf_counter()
        run(n)
        sync(device)
        out[f'{name}_tokens_per_s'] = n / (time.perf_counter() - t0)
    return out


def tokenize(a, _device):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(a['tokenizer'])
    with open(a['corpus'], encoding='utf8') as f:
        docs = [json.loads(line) for line in f if line.strip()]
    nbytes = sum(len(d.encode('utf8')) for d in docs)
    rates, tokens = [], 0
    for _ in range(3):
        t0 = time.perf_counter()
        tokens = sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs)
        rates.append(nbytes / 1e6 / (time.perf_counter() - t0))
    import tokenizers
    return {'mb_per_s': sorted(rates)[1], 'tokens': tokens, 'version': tokenizers.__version__}


def main():
    kind, a = sys.argv[1], json.loads(sys.argv[2])
    os.environ.setdefault('RAYON_NUM_THREADS', '1')
    device = torch.device(a.get('device', 'cpu'))
    if device.type == 'cpu':
        torch.set_num_threads(2)
    if kind == 'train':
        r = train_torch.run(a)
    else:
        r = {'gemm': gemm, 'attention': attention, 'decode': decode, 'tokenize': tokenize}[kind](a, device)
    r['torch'] = torch.__version__
    if device.type == 'cuda':
        r['gpu'] = torch.cuda.get_device_name()
    print(json.dumps(r))


if __name__ == '__main__':
    main()

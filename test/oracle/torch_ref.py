"""Reference ops in PyTorch shared by the training oracles (train_ops.py, sft_grad.py): RMSNorm,
rotate-half RoPE and causal GQA attention with packing segment ids, as Hugging Face computes them."""
import torch


def rmsnorm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, pos, theta, scale_inv=None):
    """rotate-half RoPE on x [rows, heads, hd] at positions pos [rows]; scale_inv maps the inverse frequencies (rope_scaling)"""
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).double() / hd))
    if scale_inv is not None:
        inv = scale_inv(inv)
    ang = pos.double()[:, None] * inv[None, :]
    cos, sin = torch.cat((ang, ang), -1).cos()[:, None].to(x.dtype), torch.cat((ang, ang), -1).sin()[:, None].to(x.dtype)
    rot = torch.cat((-x[..., hd // 2:], x[..., :hd // 2]), -1)
    return x * cos + rot * sin


def attention(q, k, v, seg, B, T, H, KV, HD):
    """q [B·T, H·HD], k/v [B·T, KV·HD] → out [B·T, H·HD], lse [B·T, H]"""
    q = q.reshape(B, T, H, HD)
    k = k.reshape(B, T, KV, 1, HD).expand(B, T, KV, H // KV, HD).reshape(B, T, H, HD)
    v = v.reshape(B, T, KV, 1, HD).expand(B, T, KV, H // KV, HD).reshape(B, T, H, HD)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()[None].expand(B, T, T)
    if seg is not None:
        s = seg.reshape(B, T)
        allowed = allowed & (s[:, :, None] == s[:, None, :])
    scores = torch.einsum("bthd,bshd->bhts", q, k) / HD ** 0.5
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    lse = torch.logsumexp(scores, -1)  # [B, H, T]
    out = torch.einsum("bhts,bshd->bthd", torch.softmax(scores, -1), v)
    return out.reshape(B * T, H * HD), lse.permute(0, 2, 1).reshape(B * T, H)

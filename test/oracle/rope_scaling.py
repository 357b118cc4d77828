"""Hugging Face's llama3 rope_scaling (transformers' modeling_rope_utils._compute_llama3_parameters) in PyTorch,
written from its semantics for the oracles: hf_tiny_model.py (config.json's snake_case keys) and sft_grad.py
(LlamaConfig's camelCase ropeScaling)."""
import math

import torch


def llama3_inv_freq(inv_freq, factor, low_freq_factor, high_freq_factor, original_max_position_embeddings):
    """Scales the default inverse frequencies (any float dtype; the result keeps it)."""
    old = original_max_position_embeddings
    low_freq_wavelen, high_freq_wavelen = old / low_freq_factor, old / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)  # long wavelengths: slowed down
    smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(medium, smoothed, scaled)


def from_hf(inv_freq, s):
    """rope_scaling as config.json spells it"""
    return llama3_inv_freq(inv_freq, s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"])


def from_llama_config(inv_freq, s):
    """ropeScaling as models/llama.ts spells it (None: unscaled)"""
    if not s:
        return inv_freq
    return llama3_inv_freq(inv_freq, s["factor"], s["lowFreqFactor"], s["highFreqFactor"], s["originalMaxPositionEmbeddings"])

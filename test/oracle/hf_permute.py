#!/usr/bin/python3
"""Hugging Face's convert_llama_weights_to_hf.py permutation, in PyTorch, on a seeded random matrix.
Usage: hf_permute.py N_HEADS ROWS COLS → JSON {"w": [...], "permuted": [...]}"""
import json
import sys

import torch

n_heads, rows, cols = map(int, sys.argv[1:4])
torch.manual_seed(0)
w = torch.randn(rows, cols)
permuted = w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)
print(json.dumps({"w": w.flatten().tolist(), "permuted": permuted.flatten().tolist()}))

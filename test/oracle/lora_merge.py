#!/usr/bin/python3
"""PEFT's LoRA merge in PyTorch, checked against a merged model: for every adapted linear layer
W' = W + scale * (B @ A) with scale = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora), as
peft.tuners.lora.Linear.get_delta_weight + merge compute it (fan_in_fan_out false); every other tensor unchanged.
Reads safetensors with struct + json (Debian's torch has no safetensors package); F32/F16/BF16.
Usage: lora_merge.py BASE.safetensors CHECKPOINT_DIR MERGED.safetensors
  → JSON {"merged": n_adapted, "checked": n_tensors, "max_abs_diff": d, "max_delta": m, "missing": [...]}"""
import json
import math
import re
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    start = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = bytearray(data[start + a:start + b])
        t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if b > a else torch.zeros(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.to(torch.float32).reshape(info["shape"])
    return out


base_path, ckpt, merged_path = sys.argv[1:4]
cfg = json.load(open(f"{ckpt}/adapter_config.json"))
r, alpha = cfg["r"], cfg["lora_alpha"]
scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
assert not cfg.get("fan_in_fan_out"), "fan_in_fan_out is not handled by this oracle"
base = read_safetensors(base_path)
adapter = read_safetensors(f"{ckpt}/adapter_model.safetensors")
merged = read_safetensors(merged_path)

expected = dict(base)
n_adapted = 0
max_delta = 0.0
for key, a in adapter.items():
    m = re.match(r"^base_model\.model\.(.+)\.lora_A(?:\.default)?\.weight$", key)
    if not m:
        continue
    b = adapter[key.replace("lora_A", "lora_B")]
    target = f"{m.group(1)}.weight"
    delta = (b @ a) * scale
    expected[target] = base[target] + delta
    max_delta = max(max_delta, float(delta.abs().max()))
    n_adapted += 1

missing = sorted(set(expected) ^ set(merged))
max_diff = 0.0
for name, t in expected.items():
    if name in merged:
        assert list(merged[name].shape) == list(t.shape), f"{name}: {list(merged[name].shape)} != {list(t.shape)}"
        max_diff = max(max_diff, float((merged[name] - t).abs().max()) if t.numel() else 0.0)
print(json.dumps({"merged": n_adapted, "checked": len(expected), "max_abs_diff": max_diff, "max_delta": max_delta, "missing": missing}))

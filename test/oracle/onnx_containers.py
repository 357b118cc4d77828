#!/usr/bin/python3
"""ONNX files checked with the onnx package itself (Debian python3-onnx), independently of webtune's TypeScript.

Usage:
  onnx_containers.py write-model OUT.onnx
      Writes a model whose initializers use every storage webtune's reader handles: raw_data, float_data,
      float16 as raw_data and as int32_data, and external data with one file per tensor (onnx.save with
      all_tensors_to_one_file=False). Prints JSON {name: [values as float32]}.
  onnx_containers.py check CHECKPOINT_DIR
      Loads adapter.onnx and optimizer.onnx with onnx.load (+ onnx.checker) and numpy_helper.to_array and compares
      them with adapter_model.safetensors / model.safetensors and optimizer.safetensors (read with the format's own
      layout: u64 header length, JSON header, raw little-endian data). Prints JSON {tensors, max_abs_diff, step,
      missing, extra}.
"""
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def write_model(path):
    rng = np.random.default_rng(3)
    arrays = {
        "raw": rng.standard_normal((3, 4)).astype(np.float32),
        "typed": rng.standard_normal((5,)).astype(np.float32),
        "half": rng.standard_normal((2, 3)).astype(np.float16),
        "half_typed": rng.standard_normal((4,)).astype(np.float16),
        "big_a": rng.standard_normal((64, 16)).astype(np.float32),
        "big_b": rng.standard_normal((40, 30)).astype(np.float16),
    }
    inits = [
        numpy_helper.from_array(arrays["raw"], "raw"),
        helper.make_tensor("typed", TensorProto.FLOAT, [5], arrays["typed"].tolist(), raw=False),
        numpy_helper.from_array(arrays["half"], "half"),
        # make_tensor stores float16 values as their bit patterns in int32_data
        helper.make_tensor("half_typed", TensorProto.FLOAT16, [4], arrays["half_typed"].astype(np.float32).tolist(), raw=False),
        numpy_helper.from_array(arrays["big_a"], "big_a"),
        numpy_helper.from_array(arrays["big_b"], "big_b"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "raw"], ["y"])], "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx-oracle")
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=1024)
    back = onnx.load(path, load_external_data=False)
    assert len([t for t in back.graph.initializer if t.data_location == TensorProto.EXTERNAL]) == 2
    assert len(next(t for t in back.graph.initializer if t.name == "half_typed").int32_data) == 4
    print(json.dumps({k: [float(v) for v in a.astype(np.float32).ravel()] for k, a in arrays.items()}))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(info["shape"])
    return out, meta


def load_onnx(path):
    model = onnx.load(path)
    onnx.checker.check_model(model)
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}, {p.key: p.value for p in model.metadata_props}


def check(ckpt):
    weights_file = "adapter_model.safetensors" if os.path.exists(os.path.join(ckpt, "adapter_model.safetensors")) else "model.safetensors"
    want, _ = read_safetensors(os.path.join(ckpt, weights_file))
    got, _ = load_onnx(os.path.join(ckpt, "adapter.onnx"))
    opt, opt_meta = read_safetensors(os.path.join(ckpt, "optimizer.safetensors"))
    got_opt, _ = load_onnx(os.path.join(ckpt, "optimizer.onnx"))
    # optimizer.safetensors keys are exp_avg/<trainer name>; optimizer.onnx names are <PEFT/HF name>.exp_avg (or
    # .exp_avg_sq), with the trainer's own name in the tensor's doc_string
    model = onnx.load(os.path.join(ckpt, "optimizer.onnx"))
    by_trainer = {}
    for t in model.graph.initializer:
        if t.name != "step":
            which = "exp_avg_sq" if t.name.endswith(".exp_avg_sq") else "exp_avg"
            assert t.name.endswith("." + which), t.name
            by_trainer[f"{which}/{t.doc_string}"] = numpy_helper.to_array(t)
    worst, missing = 0.0, []
    for name, a in want.items():
        if name not in got:
            missing.append(name)
            continue
        assert got[name].dtype == np.float32 and list(got[name].shape) == list(a.shape), (name, got[name].shape, a.shape)
        worst = max(worst, float(np.abs(got[name] - a).max()) if a.size else 0.0)
    for key, a in opt.items():
        if key not in by_trainer:
            missing.append(key)
            continue
        worst = max(worst, float(np.abs(by_trainer[key].ravel() - a.ravel()).max()) if a.size else 0.0)
    step = got_opt.get("step")
    print(json.dumps({
        "tensors": len(want), "optimizer_tensors": len(opt), "max_abs_diff": worst, "missing": missing,
        "extra": sorted(set(got) - set(want)),
        "step": None if step is None else int(step), "optimizer_steps": opt_meta.get("optimizer_steps"),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "write-model":
        write_model(sys.argv[2])
    elif sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")

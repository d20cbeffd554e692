"""PyTorch side of `dit-native bench`: times the same cases through PyTorch in the same run.

Reads a JSON list of cases on stdin ({"name", "kind", ...sizes, "dtype", "device", "iters",
"copies": input sets to rotate through, as the Node side does}),
prints one JSON object {"torch": version, "threads": n, "results": {name: {"median_ms": ..}}}.
CPU runs use all cores (torch.set_num_threads(os.cpu_count())); CUDA runs time with events.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import torch_dit  # noqa: E402

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def timed(fn, device, iters, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def rotated(fns):
    """One call of the next of several copies of a case (each with its own inputs), as our side does."""
    if len(fns) == 1:
        return fns[0]
    state = {"next": 0}

    def run():
        fn = fns[state["next"] % len(fns)]
        state["next"] += 1
        return fn()

    return run


def make(case):
    dev, dt = case.get("device", "cpu"), DTYPES[case.get("dtype", "f32")]
    r = lambda *s: torch.randn(*s, device=dev, dtype=dt)  # noqa: E731
    k = case["kind"]
    if k == "linear":
        x, w, b = r(case["M"], case["K"]), r(case["N"], case["K"]), r(case["N"])
        act = case.get("activation", "none")
        if act == "gelu_tanh":
            return lambda: F.gelu(F.linear(x, w, b), approximate="tanh")
        return lambda: F.linear(x, w, b)
    if k == "layer_norm_modulate":
        B, N, D = case["B"], case["N"], case["D"]
        x, shift, scale = r(B, N, D), r(B, D), r(B, D)
        return lambda: F.layer_norm(x.float(), (D,), eps=1e-6).to(dt) * (1 + scale[:, None]) + shift[:, None]
    if k == "attention":
        q, kk, v = (r(case["B"], case["H"], case["N"], case["Dh"]) for _ in range(3))
        if hasattr(F, "scaled_dot_product_attention"):
            return lambda: F.scaled_dot_product_attention(q, kk, v)
        scale = case["Dh"] ** -0.5  # torch < 2.0: the eager math
        return lambda: torch.softmax((q * scale) @ kk.transpose(-1, -2), dim=-1) @ v
    if k == "patch_embed3d":
        x = r(case["B"], case["C"], case["T"], case["H"], case["W"])
        w, b = r(case["D"], case["C"], *case["patch"]), r(case["D"])
        return lambda: F.conv3d(x, w, b, stride=case["patch"]).flatten(2).transpose(1, 2)
    if k == "causal_conv3d":
        kt = case["k"]
        x = r(case["B"], case["Cin"], case["T"], case["H"], case["W"])
        w, b = r(case["Cout"], case["Cin"], kt, kt, kt), r(case["Cout"])
        pad = (kt // 2, kt // 2, kt // 2, kt // 2, kt - 1, 0)
        try:
            F.pad(x, pad, mode="replicate")
            return lambda: F.conv3d(F.pad(x, pad, mode="replicate"), w, b)
        except RuntimeError:
            # PyTorch < 2 has no bf16 replication pad on the CPU: pad in f32 (exact) and convert back,
            # so the bf16 convolution itself is still timed (the pad is a few % of it)
            return lambda: F.conv3d(F.pad(x.float(), pad, mode="replicate").to(x.dtype), w, b)
    if k == "gelu":
        x = r(case["n"])
        return lambda: F.gelu(x, approximate="tanh")
    if k == "model":
        torch_dit.ATTENTION = torch_dit.default_attention()  # SDPA where it exists: PyTorch 2's baseline
        cfg = dict(case["config"])
        for key in ("input_size", "patch_size"):
            if key in cfg:
                cfg[key] = tuple(cfg[key])
        model = torch_dit.random_init(torch_dit.build(cfg), 0).to(device=dev, dtype=dt).eval()
        x, t, y = torch_dit.random_inputs(model, case["batch"], seed=1)
        x, t, y = x.to(dev, dt), t.to(dev), (y.to(dev) if y.dtype == torch.int64 else y.to(dev, dt))
        return lambda: model(x, t, y)
    raise ValueError(f"unknown case kind {k}")


def main():
    cases = json.load(sys.stdin)
    torch.set_num_threads(os.cpu_count())
    results = {}
    with torch.inference_mode():
        for case in cases:
            dev, iters = case.get("device", "cpu"), case.get("iters", 10)
            try:
                fn = rotated([make(case) for _ in range(case.get("copies", 1))])
                results[case["name"]] = {"median_ms": timed(fn, dev, iters)}
            except Exception as e:  # report, keep going
                results[case["name"]] = {"error": f"{type(e).__name__}: {e}"}
                continue
            # the model also through torch.compile, on the GPU, when it works (DIT_TORCH_COMPILE=0 skips it)
            if case["kind"] == "model" and dev == "cuda" and hasattr(torch, "compile") and os.environ.get("DIT_TORCH_COMPILE", "1") != "0":
                try:
                    compiled = torch.compile(fn)
                    results[case["name"] + ":torch.compile"] = {"median_ms": timed(compiled, dev, iters, warmup=3)}
                except Exception as e:
                    results[case["name"] + ":torch.compile"] = {"error": f"{type(e).__name__}: {e}"}
    model_attention = torch_dit.ATTENTION_NAMES[torch_dit.ATTENTION] if any(c["kind"] == "model" for c in cases) else None
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "model_attention": model_attention,
                      "results": results}))


if __name__ == "__main__":
    main()

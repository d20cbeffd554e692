#!/usr/bin/env python3
"""Write the model test fixtures: test/fixtures/<name>.safetensors.

Each file holds a small random Open-Sora DiT (every state_dict tensor under its exact key, F32), the
inputs x (B,C,T,H,W) F32, t (B,) F32, y ((B,1,1,caption_channels) F32 or (B,) I64 labels) and the
expected output `out` (B,out_channels,T,H,W) F32, computed in float64 from exactly those f32 values
and rounded once. Metadata: {"config": <JSON, Open-Sora argument names>} (+ "cfg_scale" for CFG).
A loader given the file as weights must ignore x/t/y/out/cfg_* (not state_dict keys).

    /usr/bin/python3 scripts/make_fixtures.py [--out test/fixtures] [--check]

`out` is the float64 answer. Open-Sora's own float32 forward is ~2e-7 (relative L2) from it, except
that its float32 timestep sinusoid (arguments t*freq rounded to f32) adds up to ~9e-6 at t=999; an
implementation that computes that sinusoid in double stays at ~2e-7 (both printed).

Deterministic (seeded, one thread). --check also cross-checks the torch reference against an
independent numpy float64 forward and prints f32-vs-f64 errors.
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_dit  # noqa: E402

# name -> (config, batch, t values, label values or None, extra)
FIXTURES = {
    # text, 27 tokens (3x3x3), head_dim 12, batch 3, t at 0 / non-integer / max
    "dit_text_27tok": (
        dict(input_size=[3, 6, 6], patch_size=[1, 2, 2], hidden_size=36, depth=2, num_heads=3,
             condition="text", caption_channels=24),
        3, [0.0, 17.5, 999.0], None, {}),
    # label, patch (2,2,2), 18 tokens, head_dim 8, the null class (10) in the batch
    "dit_label_p222": (
        dict(input_size=[4, 6, 6], patch_size=[2, 2, 2], hidden_size=32, depth=2, num_heads=4,
             condition="label_10"),
        2, [999.0, 250.75], [3, 10], {}),
    # DiT-XL/2's head_dim 72 (1 head of 72), 12 tokens, mlp_ratio 0.5, batch 1
    # (D=72 is the smallest model with that head_dim; this keeps the file under 400 KB)
    "dit_hd72": (
        dict(input_size=[3, 4, 4], patch_size=[1, 2, 2], hidden_size=72, depth=1, num_heads=1,
             mlp_ratio=0.5, condition="label_7"),
        1, [17.5], [6], {}),
    # learn_sigma False, mlp_ratio 2.5, 50 tokens, depth 3
    "dit_nosigma_mlp25": (
        dict(input_size=[2, 10, 10], patch_size=[1, 2, 2], hidden_size=32, depth=3, num_heads=2,
             mlp_ratio=2.5, learn_sigma=False, condition="text", caption_channels=16),
        2, [999.0, 0.5], None, {}),
    # image config: T=1, no_temporal_pos_emb, 25 tokens, head_dim 8, batch 3, null class 5
    "dit_image_t1": (
        dict(input_size=[1, 10, 10], patch_size=[1, 2, 2], hidden_size=40, depth=2, num_heads=5,
             no_temporal_pos_emb=True, condition="label_5"),
        3, [999.0, 17.5, 1.0], [0, 5, 4], {}),
    # T=1 WITH the temporal embedding (it is [0..0, 1..1], not zero), mlp_ratio 3, 9 tokens, batch 1
    "dit_t1_tpe": (
        dict(input_size=[1, 6, 6], patch_size=[1, 2, 2], hidden_size=32, depth=2, num_heads=2,
             mlp_ratio=3.0, condition="text", caption_channels=16),
        1, [500.25], None, {}),
    # in_channels 3, patch (2,2,2), text, 12 tokens, depth 3, head_dim 8
    "dit_c3_p222": (
        dict(input_size=[6, 4, 4], in_channels=3, patch_size=[2, 2, 2], hidden_size=24, depth=3,
             num_heads=3, condition="text", caption_channels=20),
        2, [123.0, 999.0], None, {}),
    # label model + classifier-free guidance outputs (cfg_out, cfg_out_first3)
    "dit_tiny_cfg": (
        dict(input_size=[2, 6, 6], patch_size=[1, 2, 2], hidden_size=32, depth=2, num_heads=2,
             condition="label_6"),
        2, [999.0, 17.5], [1, 5], {"cfg_scale": 4.0}),
    # H != W with a square token grid (8 / 2 = 4 / 1): patch (1,2,1), 32 tokens, head_dim 8
    "dit_rect_hw": (
        dict(input_size=[2, 8, 4], patch_size=[1, 2, 1], hidden_size=24, depth=2, num_heads=3,
             condition="label_4"),
        2, [999.0, 42.0], [2, 4], {}),
}

MAX_FILE = 400 * 1024
MAX_TOTAL = 3 * 1024 * 1024


# ---------------------------------------------------------------- safetensors
_DT = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8"), torch.float64: ("F64", "<f8")}
_NP = {"F32": "<f4", "I64": "<i8", "F64": "<f8"}


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        code, npdt = _DT[t.dtype]
        b = t.detach().contiguous().numpy().astype(npdt, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype=_NP[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


# ---------------------------------------------------------------- independent numpy float64 forward
def np_forward(sd, cfg, x, t, y):
    """A second, loop-and-formula implementation (no torch modules) used to cross-check torch_dit."""
    f = {k: v.double().numpy() for k, v in sd.items() if v.is_floating_point()}
    B, C, T, H, W = x.shape
    pt, ph, pw = cfg["patch_size"]
    D, nh = cfg["hidden_size"], cfg["num_heads"]
    tg, hg, wg = T // pt, H // ph, W // pw
    N = tg * hg * wg
    oc = 2 * C if cfg["learn_sigma"] else C
    x = x.double().numpy()

    def linear(a, name):
        return a @ f[name + ".weight"].T + f[name + ".bias"]

    def gelu(a):
        return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))

    def silu(a):
        return a / (1 + np.exp(-a))

    def ln(a):
        mu = a.mean(-1, keepdims=True)
        var = ((a - mu) ** 2).mean(-1, keepdims=True)
        return (a - mu) / np.sqrt(var + 1e-6)

    # patch embedding as an explicit gather: token n=(ti*hg+hi)*wg+wi, feature (c, r, p, q)
    w = f["x_embedder.proj.weight"].reshape(D, -1)
    tok = np.zeros((B, N, D))
    for ti in range(tg):
        for hi in range(hg):
            for wi in range(wg):
                n = (ti * hg + hi) * wg + wi
                patch = x[:, :, ti * pt:(ti + 1) * pt, hi * ph:(hi + 1) * ph, wi * pw:(wi + 1) * pw]
                tok[:, n] = patch.reshape(B, -1) @ w.T + f["x_embedder.proj.bias"]
    # positional embeddings: spatial index s = hi*wg+wi, temporal index ti
    for n in range(N):
        ti, s = divmod(n, hg * wg)
        tok[:, n] += f["pos_embed_spatial"][0, s]
        if not cfg["no_temporal_pos_emb"]:
            tok[:, n] += f["pos_embed_temporal"][0, ti]

    half = 128
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    args = t.double().numpy()[:, None] * freqs[None]
    temb = np.concatenate([np.cos(args), np.sin(args)], 1)
    temb = linear(silu(linear(temb, "t_embedder.mlp.0")), "t_embedder.mlp.2")
    if cfg["condition"].startswith("label"):
        yemb = f["y_embedder.embedding_table.weight"][y.numpy()]
    else:
        yv = y.double().numpy().reshape(B, -1)
        yemb = linear(gelu(linear(yv, "y_embedder.y_proj.fc1")), "y_embedder.y_proj.fc2")
    c = temb + yemb
    sc = silu(c)

    hd = D // nh
    for i in range(cfg["depth"]):
        p = f"blocks.{i}."
        mod = linear(sc, p + "adaLN_modulation.1")
        sh1, s1, g1, sh2, s2, g2 = [mod[:, k * D:(k + 1) * D][:, None] for k in range(6)]
        a = ln(tok) * (1 + s1) + sh1
        qkv = linear(a, p + "attn.qkv")
        o = np.zeros((B, N, D))
        for b in range(B):
            for hh in range(nh):
                q = qkv[b, :, hh * hd:(hh + 1) * hd]
                k = qkv[b, :, D + hh * hd:D + (hh + 1) * hd]
                v = qkv[b, :, 2 * D + hh * hd:2 * D + (hh + 1) * hd]
                s = q @ k.T / math.sqrt(hd)
                s = np.exp(s - s.max(1, keepdims=True))
                o[b, :, hh * hd:(hh + 1) * hd] = (s / s.sum(1, keepdims=True)) @ v
        tok = tok + g1 * linear(o, p + "attn.proj")
        m = ln(tok) * (1 + s2) + sh2
        tok = tok + g2 * linear(gelu(linear(m, p + "mlp.fc1")), p + "mlp.fc2")
    mod = linear(sc, "final_layer.adaLN_modulation.1")
    lin = linear(ln(tok) * (1 + mod[:, None, D:]) + mod[:, None, :D], "final_layer.linear")
    out = np.zeros((B, oc, tg * pt, hg * ph, wg * pw))
    for n in range(N):
        ti, rest = divmod(n, hg * wg)
        hi, wi = divmod(rest, wg)
        for r in range(pt):
            for pp in range(ph):
                for q in range(pw):
                    j = ((r * ph + pp) * pw + q) * oc
                    out[:, :, ti * pt + r, hi * ph + pp, wi * pw + q] = lin[:, n, j:j + oc]
    return out


def check_pos_tables(sd, cfg):
    """pos tables against the closed form: pe[i*g+j] = [sin jw | cos jw | sin iw | cos iw], w_k=1e4^(-k/(D/4))."""
    D = cfg["hidden_size"]
    g = cfg["input_size"][1] // cfg["patch_size"][1]
    om = 10000.0 ** (-np.arange(D // 4) / (D / 4))
    ref = np.zeros((g * g, D))
    for i in range(g):
        for j in range(g):
            ref[i * g + j] = np.concatenate([np.sin(j * om), np.cos(j * om), np.sin(i * om), np.cos(i * om)])
    e1 = np.abs(sd["pos_embed_spatial"][0].double().numpy() - ref).max()
    tg = cfg["input_size"][0] // cfg["patch_size"][0]
    om2 = 10000.0 ** (-np.arange(D // 2) / (D / 2))
    ref2 = np.stack([np.concatenate([np.sin(ti * om2), np.cos(ti * om2)]) for ti in range(tg)])
    e2 = np.abs(sd["pos_embed_temporal"][0].double().numpy() - ref2).max()
    return max(e1, e2)


def rel_l2(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return ((a - b).norm() / b.norm()).item()


# ---------------------------------------------------------------- build one fixture
def make(name, spec, seed, check):
    cfg_in, batch, tvals, labels, extra = spec
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in torch_dit.DEFAULTS.items()}
    cfg.update(cfg_in)
    model = torch_dit.random_init(torch_dit.build(cfg), seed).float().eval()
    sd = model.state_dict()

    g = torch.Generator().manual_seed(seed + 1)
    T, H, W = cfg["input_size"]
    x = torch.randn(batch, cfg["in_channels"], T, H, W, generator=g)
    t = torch.tensor(tvals, dtype=torch.float32)
    if labels is not None:
        y = torch.tensor(labels, dtype=torch.int64)
    else:
        y = torch.randn(batch, 1, 1, cfg["caption_channels"], generator=g)

    m64 = torch_dit.build(cfg)
    m64.load_state_dict(sd)
    m64 = m64.double().eval()
    with torch.no_grad():
        out64 = m64(x.double(), t.double(), y if labels is not None else y.double(), keep_dtype=True)
        out32 = model(x, t, y)
        model.t_embedder.freq_dtype = torch.float64
        out32_t64 = model(x, t, y)
        model.t_embedder.freq_dtype = None
    tensors = dict(sd)
    tensors.update(x=x, t=t, y=y, out=out64.float())
    meta = {"config": json.dumps(cfg)}
    info = {"rel_f32_vs_f64": rel_l2(out32, out64), "rel_f32_t64_vs_f64": rel_l2(out32_t64, out64),
            "out_rms": out64.pow(2).mean().sqrt().item()}

    if "cfg_scale" in extra:
        s = extra["cfg_scale"]
        C = cfg["in_channels"]
        nc = model.num_classes
        with torch.no_grad():
            full = m64(torch.cat([x, x]).double(), torch.cat([t, t]).double(),
                       torch.cat([y, torch.full_like(y, nc)]), keep_dtype=True)
        cond, unc = full.chunk(2, dim=0)
        k = C if cfg["learn_sigma"] else cond.shape[1]
        guided = unc[:, :k] + s * (cond[:, :k] - unc[:, :k])
        cfg_out = torch.cat([guided, cond[:, k:]], dim=1)
        g3 = unc[:, :3] + s * (cond[:, :3] - unc[:, :3])  # facebook DiT: first 3 channels only
        cfg_out_first3 = torch.cat([g3, cond[:, 3:]], dim=1)
        tensors.update(cfg_out=cfg_out.float(), cfg_out_first3=cfg_out_first3.float())
        meta["cfg_scale"] = json.dumps(s)

    if check:
        ref = np_forward(sd, cfg, x, t, y)
        info["rel_torch_vs_numpy"] = rel_l2(out64, ref)
        info["pos_table_maxabs"] = check_pos_tables(sd, cfg)
    return tensors, meta, cfg, batch, info


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures"))
    ap.add_argument("--check", action="store_true", help="numpy cross-check and self-consistency checks")
    args = ap.parse_args()
    torch.set_num_threads(1)  # bit-reproducible reductions
    os.makedirs(args.out, exist_ok=True)

    rows, total = [], 0
    for i, (name, spec) in enumerate(FIXTURES.items()):
        tensors, meta, cfg, batch, info = make(name, spec, 1000 + i, args.check)
        path = os.path.join(args.out, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        size = os.path.getsize(path)
        total += size
        assert size < MAX_FILE, f"{name}: {size} bytes"
        back, meta2 = read_safetensors(path)  # round trip
        assert meta2 == meta and all(torch.equal(back[k], v.contiguous()) for k, v in tensors.items())
        if args.check:
            assert info["rel_torch_vs_numpy"] < 1e-12, (name, info)
            assert info["pos_table_maxabs"] < 1e-6, (name, info)
            assert info["rel_f32_vs_f64"] < 1e-5, (name, info)
        rows.append((name, cfg, batch, tensors, size, info))
    assert total < MAX_TOTAL, total

    print(f"{'name':18} {'cond':9} {'input':9} {'patch':6} {'D':>3} {'dep':>3} {'hd':>3} {'mlp':>4} "
          f"{'sig':3} {'tpe':3} {'B':>1} {'N':>3} {'params':>6} {'bytes':>7}  f32-vs-f64 (f64-temb)"
          + ("  torch-vs-numpy" if args.check else ""))
    for name, cfg, batch, tensors, size, info in rows:
        n_tok = int(np.prod([a // b for a, b in zip(cfg["input_size"], cfg["patch_size"])]))
        nparam = sum(v.numel() for k, v in tensors.items() if "." in k)
        extra = "  +cfg" if "cfg_out" in tensors else ""
        print(f"{name:18} {cfg['condition']:9} {'x'.join(map(str, cfg['input_size'])):9} "
              f"{''.join(map(str, cfg['patch_size'])):6} {cfg['hidden_size']:>3} {cfg['depth']:>3} "
              f"{cfg['hidden_size'] // cfg['num_heads']:>3} {cfg['mlp_ratio']:>4} "
              f"{'T' if cfg['learn_sigma'] else 'F':3} {'F' if cfg['no_temporal_pos_emb'] else 'T':3} "
              f"{batch:>1} {n_tok:>3} {nparam:>6} {size:>7}  {info['rel_f32_vs_f64']:.2e}   ({info['rel_f32_t64_vs_f64']:.1e})"
              + (f"  {info['rel_torch_vs_numpy']:.1e}" if args.check else "") + extra)
    print(f"total {total} bytes in {len(rows)} files -> {os.path.normpath(args.out)}")
    for name, *_ in rows:
        print(sha256(os.path.join(args.out, name + ".safetensors"))[:16], name)


if __name__ == "__main__":
    main()

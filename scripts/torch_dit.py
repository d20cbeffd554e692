#!/usr/bin/env python3
"""Plain PyTorch reference for Open-Sora v1.0's `DiT` (the model dit-native runs).

Written from the published math (docs: shared/research/opensora-spec.md §1-§9), not copied.
`state_dict()` keys and shapes are exactly Open-Sora's, so a file written from this module
loads into Open-Sora and the other way round.

Precision rule: Open-Sora upcasts LayerNorm, softmax and the timestep frequencies to float32.
Here they run at max(model dtype, float32): identical to Open-Sora for f32/f16/bf16, and a true
float64 computation when the model is `.double()` (that is how the test fixtures are made).

Usage as a script (timing the CPU forward for the bench suite):
    python3 scripts/torch_dit.py bench --config '{"hidden_size": 384, ...}' --batch 2 --warmup 2 --iters 10
prints one JSON line {"median_ms", "min_ms", "threads", "torch", "iters", "dtype", "attention"}; the
attention is F.scaled_dot_product_attention where this PyTorch has it (see ATTENTION).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Open-Sora's DiT constructor defaults (opensora/models/dit/dit.py, v1.0).
DEFAULTS = dict(
    input_size=(16, 32, 32),
    in_channels=4,
    patch_size=(1, 2, 2),
    hidden_size=1152,
    depth=28,
    num_heads=16,
    mlp_ratio=4.0,
    class_dropout_prob=0.1,
    learn_sigma=True,
    condition="text",
    no_temporal_pos_emb=False,
    caption_channels=512,
)


# How Attention computes softmax(q k^T) v: "math", Open-Sora's eager code (softmax upcast to
# float32; the fixtures' reference), or "sdpa", F.scaled_dot_product_attention (PyTorch 2's fused
# kernels, cuDNN or flash on a GPU): the baseline a PyTorch 2 user gets, so the benches use it
# wherever it exists (default_attention()). The math path at 4096 tokens writes the 2 x 16 x 4096
# x 4096 scores and is 4x slower on an H100 (187 ms against 45 for the DiT-XL/2 forward).
ATTENTION = "math"


def default_attention():
    return "sdpa" if hasattr(F, "scaled_dot_product_attention") else "math"


ATTENTION_NAMES = {"sdpa": "F.scaled_dot_product_attention", "math": "eager softmax(q k^T) v"}


def _up(dtype):
    """The dtype Open-Sora upcasts to (float32), never lowering float64."""
    return torch.promote_types(dtype, torch.float32)


# ---------------------------------------------------------------- sin/cos tables (MAE, float64 numpy)
def sincos_1d_from_grid(dim, pos):
    assert dim % 2 == 0
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(np.asarray(pos, dtype=np.float64).reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)  # [sin | cos], not interleaved


def sincos_1d(dim, length):
    return sincos_1d_from_grid(dim, np.arange(length, dtype=np.float64))


def sincos_2d(dim, grid):
    """Square grid: token n = i*grid + j; first dim/2 channels encode the column j, last dim/2 the row i."""
    assert dim % 2 == 0
    ii, jj = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32), indexing="ij")
    col = sincos_1d_from_grid(dim // 2, jj.reshape(-1))
    row = sincos_1d_from_grid(dim // 2, ii.reshape(-1))
    return np.concatenate([col, row], axis=1)


# ---------------------------------------------------------------- layers
def modulate(norm, x, shift, scale):
    dt = x.dtype
    x = norm(x.to(_up(dt))).to(dt)
    return (x * (scale.unsqueeze(1) + 1) + shift.unsqueeze(1)).to(dt)


class Mlp(nn.Module):  # timm Mlp with tanh GELU: keys fc1, fc2
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, H, N, hd)
        if ATTENTION == "sdpa":  # its default scale is head_dim ** -0.5, as here
            return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, C))
        q = q * self.scale  # scaled before q @ k^T, as Open-Sora
        attn = q @ k.transpose(-2, -1)
        attn = attn.to(_up(x.dtype)).softmax(dim=-1).to(x.dtype)
        o = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(o)


class PatchEmbed3D(nn.Module):
    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, x):
        _, _, T, H, W = x.shape
        pt, ph, pw = self.patch_size
        if W % pw:
            x = F.pad(x, (0, pw - W % pw))
        if H % ph:
            x = F.pad(x, (0, 0, 0, ph - H % ph))
        if T % pt:
            x = F.pad(x, (0, 0, 0, 0, 0, pt - T % pt))
        x = self.proj(x)  # (B, D, t, h, w)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), tokens t-major then h then w


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )
        self.frequency_embedding_size = frequency_embedding_size
        # None: Open-Sora (sinusoid in float32, or the model dtype if wider). torch.float64: compute
        # it in double and round once; at t ~ 1000 the float32 arguments t*freq alone cost ~1e-5.
        self.freq_dtype = None

    @staticmethod
    def timestep_embedding(t, dim, max_period=10000, dtype=torch.float32):
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=dtype, device=t.device) / half)
        args = t[:, None].to(dtype) * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # cos first
        if dim % 2:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
        return emb

    def forward(self, t, dtype):
        fdt = self.freq_dtype or _up(dtype)
        t_freq = self.timestep_embedding(t, self.frequency_embedding_size, dtype=fdt)
        return self.mlp(t_freq.to(dtype))


class CaptionEmbedder(nn.Module):
    """Pooled caption (token_num=1 in DiT): y (B,1,1,C) -> (B,1,1,D)."""

    def __init__(self, in_channels, hidden_size, uncond_prob, token_num=1):
        super().__init__()
        self.y_proj = Mlp(in_channels, hidden_size, hidden_size)
        self.register_buffer("y_embedding", torch.randn(token_num, in_channels) / in_channels ** 0.5)
        self.uncond_prob = uncond_prob

    def forward(self, caption):
        return self.y_proj(caption)


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, hidden_size, dropout_prob):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), hidden_size)
        self.num_classes = num_classes

    def forward(self, labels):
        return self.embedding_table(labels)


class DiTBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, eps=1e-6, elementwise_affine=False)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, eps=1e-6, elementwise_affine=False)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio), hidden_size)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x, c):
        s_msa, sc_msa, g_msa, s_mlp, sc_mlp, g_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + g_msa.unsqueeze(1) * self.attn(modulate(self.norm1, x, s_msa, sc_msa))
        x = x + g_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2, x, s_mlp, sc_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, hidden_size, num_patch, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, eps=1e-6, elementwise_affine=False)
        self.linear = nn.Linear(hidden_size, num_patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final, x, shift, scale))


# ---------------------------------------------------------------- the model
class DiT(nn.Module):
    def __init__(
        self,
        input_size=DEFAULTS["input_size"],
        in_channels=DEFAULTS["in_channels"],
        patch_size=DEFAULTS["patch_size"],
        hidden_size=DEFAULTS["hidden_size"],
        depth=DEFAULTS["depth"],
        num_heads=DEFAULTS["num_heads"],
        mlp_ratio=DEFAULTS["mlp_ratio"],
        class_dropout_prob=DEFAULTS["class_dropout_prob"],
        learn_sigma=DEFAULTS["learn_sigma"],
        condition=DEFAULTS["condition"],
        no_temporal_pos_emb=DEFAULTS["no_temporal_pos_emb"],
        caption_channels=DEFAULTS["caption_channels"],
    ):
        super().__init__()
        self.input_size = tuple(input_size)
        self.patch_size = tuple(patch_size)
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.learn_sigma = learn_sigma
        self.condition = condition
        self.no_temporal_pos_emb = no_temporal_pos_emb
        self.grid = tuple(s // p for s, p in zip(self.input_size, self.patch_size))  # floor, as DiT
        self.num_temporal = self.grid[0]
        self.num_spatial = self.grid[1] * self.grid[2]
        self.num_patches = self.num_temporal * self.num_spatial

        spatial = sincos_2d(hidden_size, self.input_size[1] // self.patch_size[1])  # square, from H
        temporal = sincos_1d(hidden_size, self.num_temporal)
        self.register_buffer("pos_embed_spatial", torch.from_numpy(spatial).float().unsqueeze(0))
        self.register_buffer("pos_embed_temporal", torch.from_numpy(temporal).float().unsqueeze(0))

        self.x_embedder = PatchEmbed3D(self.patch_size, in_channels, hidden_size)
        if condition.startswith("label"):
            self.num_classes = int(condition.split("_")[-1])
            self.y_embedder = LabelEmbedder(self.num_classes, hidden_size, class_dropout_prob)
        else:
            self.num_classes = None
            self.y_embedder = CaptionEmbedder(caption_channels, hidden_size, class_dropout_prob)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, int(np.prod(self.patch_size)), self.out_channels)

    def unpatchify(self, x):
        B = x.shape[0]
        t, h, w = self.grid
        pt, ph, pw = self.patch_size
        c = self.out_channels
        x = x.reshape(B, t, h, w, pt, ph, pw, c)
        x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # n c t r h p w q
        return x.reshape(B, c, t * pt, h * ph, w * pw)

    def forward(self, x, t, y, keep_dtype=False):
        """Eval-mode forward. x (B,C,T,H,W), t (B,), y (B,1,1,caption_channels) or (B,) int labels.
        Returns float32 as Open-Sora (keep_dtype=True keeps the model dtype, for references)."""
        dtype = self.x_embedder.proj.weight.dtype
        x = self.x_embedder(x.to(dtype))
        B, N, D = x.shape
        x = x.view(B, self.num_temporal, self.num_spatial, D) + self.pos_embed_spatial.unsqueeze(0)
        if not self.no_temporal_pos_emb:
            x = (x.transpose(1, 2) + self.pos_embed_temporal.unsqueeze(0)).transpose(1, 2)
        x = x.reshape(B, N, D)

        t = self.t_embedder(t, dtype=dtype)
        if self.num_classes is not None:
            y = self.y_embedder(y.long())
        else:
            y = self.y_embedder(y.to(dtype)).squeeze(1).squeeze(1)
        c = t + y
        for block in self.blocks:
            x = block(x, c)
        x = self.final_layer(x, c)
        x = self.unpatchify(x)
        return x if keep_dtype else x.float()


def build(cfg):
    """DiT from a config dict with Open-Sora's argument names (missing keys: Open-Sora defaults)."""
    known = set(DEFAULTS)
    unknown = set(cfg) - known
    if unknown:
        raise ValueError(f"unknown config keys: {sorted(unknown)}")
    return DiT(**{k: cfg.get(k, v) for k, v in DEFAULTS.items()})


@torch.no_grad()
def random_init(model, seed):
    """Every parameter random (no zero init: zeros hide layout bugs). Weights ~ N(0, 1/sqrt(fan_in))
    so activations stay O(1); biases ~ N(0, 0.1); label table N(0, 1); y_embedding N(0, 1)."""
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("embedding_table.weight"):
            p.normal_(0.0, 1.0)
        elif p.dim() >= 2:
            fan_in = p[0].numel()
            p.normal_(0.0, 1.0 / math.sqrt(fan_in))
        else:
            p.normal_(0.0, 0.1)
    if isinstance(model.y_embedder, CaptionEmbedder):
        model.y_embedder.y_embedding.normal_(0.0, 1.0)
    return model


def random_inputs(model, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    T, H, W = model.input_size
    x = torch.randn(batch, model.in_channels, T, H, W, generator=g)
    t = torch.rand(batch, generator=g) * 1000
    if model.num_classes is not None:
        y = torch.randint(0, model.num_classes, (batch,), generator=g)
    else:
        y = torch.randn(batch, 1, 1, model.y_embedder.y_embedding.shape[1], generator=g)
    return x, t, y


# ---------------------------------------------------------------- bench CLI
def bench(args):
    global ATTENTION
    ATTENTION = default_attention()
    cfg = json.loads(args.config)
    if "input_size" in cfg:
        cfg["input_size"] = tuple(cfg["input_size"])
    if "patch_size" in cfg:
        cfg["patch_size"] = tuple(cfg["patch_size"])
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    model = random_init(build(cfg), 0).to(dtype).eval()
    x, t, y = random_inputs(model, args.batch, seed=1)
    x, y = x.to(dtype), (y if y.dtype == torch.int64 else y.to(dtype))
    times = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x, t, y)
        for _ in range(args.iters):
            t0 = time.perf_counter()
            model(x, t, y)
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({
        "median_ms": round(statistics.median(times), 4),
        "min_ms": round(min(times), 4),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "iters": args.iters,
        "dtype": args.dtype,
        "attention": ATTENTION_NAMES[ATTENTION],
    }))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="time the CPU forward (f32 or bf16) with random weights; prints one JSON line")
    b.add_argument("--config", default="{}", help="JSON with Open-Sora DiT argument names")
    b.add_argument("--batch", type=int, default=2)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--iters", type=int, default=10)
    b.add_argument("--threads", type=int, default=0, help="default: os.cpu_count()")
    b.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    args = ap.parse_args(argv)
    if args.cmd == "bench":
        bench(args)


if __name__ == "__main__":
    sys.exit(main())

"""Random small DiT configs written as fixture-format files (weights, x, t, y, float64 out), for
checking the forward beyond the committed fixtures:

    /usr/bin/python3 scripts/fuzz_configs.py --seed 7 --count 14 --out /tmp/dit-fuzz
    node scripts/check_fixtures.js /tmp/dit-fuzz

Patch sizes (1,2,2) (2,2,2) (1,1,1) (1,3,3) (2,1,1); head dims 4-20; label or text conditions;
learn_sigma and no_temporal_pos_emb either way; batch 1-3. Nothing is written into the repository.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import make_fixtures as mf  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--seed', type=int, default=7)
ap.add_argument('--count', type=int, default=12)
ap.add_argument('--out', required=True)
args = ap.parse_args()
torch.set_num_threads(2)
rnd = random.Random(args.seed)
out = args.out
os.makedirs(out, exist_ok=True)
for i in range(args.count):
    patch = rnd.choice([(1, 2, 2), (2, 2, 2), (1, 1, 1), (1, 3, 3), (2, 1, 1)])
    gt, gs = rnd.randint(1, 3), rnd.randint(1, 4)
    T, S = gt * patch[0], gs * patch[1]
    heads = rnd.randint(1, 4)
    hd = rnd.choice([4, 8, 12, 16, 20])
    D = heads * hd
    if D % 4:
        D, hd = heads * 8, 8
    cfg = dict(input_size=[T, S, S], patch_size=list(patch), hidden_size=D, depth=rnd.randint(1, 2), num_heads=heads,
               mlp_ratio=rnd.choice([1.0, 2.5, 4.0]), in_channels=rnd.randint(1, 4), learn_sigma=rnd.random() < 0.6,
               no_temporal_pos_emb=rnd.random() < 0.3)
    batch = rnd.randint(1, 3)
    tvals = [round(rnd.uniform(0, 999), 2) for _ in range(batch)]
    if rnd.random() < 0.5:
        n = rnd.randint(2, 9)
        cfg['condition'] = f'label_{n}'
        labels = [rnd.randint(0, n) for _ in range(batch)]
    else:
        cfg['condition'] = 'text'
        cfg['caption_channels'] = rnd.choice([8, 12, 20])
        labels = None
    tensors, meta, full_cfg, b, info = mf.make(f'fuzz{i}', (cfg, batch, tvals, labels, {}), 5000 + i, False)
    mf.write_safetensors(os.path.join(out, f'fuzz{i}.safetensors'), tensors, meta)
    print(i, json.dumps(cfg), 'B', batch, 'f32 vs f64 %.1e' % info['rel_f32_vs_f64'])

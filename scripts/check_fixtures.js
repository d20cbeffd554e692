#!/usr/bin/env node
// Runs every fixture-format file in a directory (test/fixtures, or scripts/fuzz_configs.py's output)
// through DiT on the CPU in f32 and bf16 and prints the relative L2 error against its float64 `out`.
// Exit code 1 when one is over 1e-5 (f32) or 3e-2 (bf16). Needs `npm run build:ts` first.
const fs = require('fs');
const path = require('path');
const { DiT, readSafetensors } = require(path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
const dir = process.argv[2] || path.join(__dirname, '..', 'test', 'fixtures');
const rel = (a, b) => { let n = 0, d = 0; for (let i = 0; i < a.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; } return Math.sqrt(n / d); };
(async () => {
  let bad = 0;
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()) {
    const p = path.join(dir, f);
    const data = await readSafetensors(p);
    const ref = await data.out.toFloat32Array();
    const line = [f];
    for (const dtype of ['f32', 'bf16']) {
      try {
        const m = await DiT.load({ weights: p, dtype });
        const out = await (await m.forward({ x: data.x, t: data.t, y: data.y })).toFloat32Array();
        const e = rel(out, ref);
        const lim = dtype === 'f32' ? 1e-5 : 3e-2;
        if (!(e <= lim)) bad++;
        line.push(`${dtype} ${e.toExponential(1)}${e <= lim ? '' : ' BAD'}`);
        m.dispose();
      } catch (e) { bad++; line.push(`${dtype} ERROR ${e.message}`); }
    }
    console.log(line.join('  '));
  }
  console.log(`${bad} over tolerance`);
  process.exitCode = bad ? 1 : 0;
})();

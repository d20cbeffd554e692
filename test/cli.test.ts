// The command line, as a user runs it: exit codes, one-line errors, complete output files only.
import test from 'ava';
import { spawn as spawnAsync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors, Tensor, writeSafetensors } from '../lib';
import { fixturePath } from './helpers/fixtures';
import { relL2 } from './helpers/tolerance';

const BIN = path.join(__dirname, '..', 'bin', 'dit-native.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dit-cli-'));

function cliWithEnv(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DIT_DEVICE: 'cpu', ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const cli = (...args: string[]) => cliWithEnv({}, ...args);

function assertUserError(t: import('ava').ExecutionContext, r: ReturnType<typeof cli>, pattern: RegExp) {
  t.is(r.code, 2, r.err);
  t.is(r.err.trim().split('\n').length, 1, `one line on stderr: ${r.err}`);
  t.regex(r.err, pattern);
  t.notRegex(r.err, /\n\s+at /, 'no stack trace');
}

test('info says which backends and why CUDA is or is not used', (t) => {
  const r = cli('info');
  t.is(r.code, 0, r.err);
  t.regex(r.out, /dit-native backends: cpu/);
  t.regex(r.out, /cuda: /);
  const j = JSON.parse(cli('info', '--json').out);
  t.true(j.backends.includes('cpu'));
});

test('run --preset DiT-S/2 uses seeded random weights and reports the timing', (t) => {
  const out = path.join(dir, 'run.safetensors');
  const r = cli('run', '--preset', 'DiT-S/2', '--input-size', '2,8,8', '--steps', '2', '--output', out);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /DiT depth 12, hidden 384, 6 heads.*random weights \(seed 0\)/);
  t.regex(r.out, /2 forwards of batch 1 .*median [0-9.]+ ms/);
  t.true(fs.existsSync(out));
});

test('forward reproduces the PyTorch fixture through files', async (t) => {
  const file = fixturePath('dit_label_p222.safetensors');
  const out = path.join(dir, 'out.safetensors');
  const r = cli('forward', '--weights', file, '--input', file, '--output', out, '--device', 'cpu');
  t.is(r.code, 0, r.err);
  const got = await readSafetensors(out);
  const want = await readSafetensors(file);
  t.deepEqual(got.out.shape, want.out.shape);
  t.true(relL2(await got.out.toFloat32Array(), await want.out.toFloat32Array()) <= 1e-5);
});

test('run --weights --input-size keeps the config the weights carry; a negative --cfg-scale reads as a value', (t) => {
  // the fixture's own size: it used to drop the file's config for the DiT-XL/2 defaults
  const r = cli('run', '--weights', fixturePath('dit_label_p222.safetensors'), '--input-size', '4,6,6');
  t.is(r.code, 0, r.err);
  t.regex(r.out, /DiT depth 2, hidden 32, 4 heads, patch \[2,2,2\], input \[4,6,6\]/);
  const g = cli('run', '--preset', 'DiT-S/8', '--input-size', '1,8,8', '--cfg-scale', '-2');
  t.is(g.code, 0, g.err);
  t.regex(g.out, /with CFG -2/);
});

test('forward --cfg-scale takes y_null from the input file when it holds one', async (t) => {
  const file = fixturePath('dit_label_p222.safetensors');
  const fx = await readSafetensors(file);
  const withNull = path.join(dir, 'ynull.safetensors');
  const yNull = Tensor.from(new BigInt64Array([1n, 2n]), [2]);
  await writeSafetensors(withNull, { x: fx.x, t: fx.t, y: fx.y, y_null: yNull });
  const [a, b] = [path.join(dir, 'cfg_a.safetensors'), path.join(dir, 'cfg_b.safetensors')];
  t.is(cli('forward', '--weights', file, '--input', withNull, '--output', a, '--cfg-scale', '3').code, 0);
  t.is(cli('forward', '--weights', file, '--input', file, '--output', b, '--cfg-scale', '3').code, 0);
  const { DiT } = await import('../lib');
  const model = await DiT.load({ weights: file });
  const want = await model.forwardWithCfg({ x: fx.x, t: fx.t, y: fx.y, cfgScale: 3, yNull: [1, 2] });
  const got = await readSafetensors(a);
  t.true(relL2(await got.out.toFloat32Array(), await want.toFloat32Array()) <= 1e-6);
  const dflt = await readSafetensors(b);
  t.true(relL2(await dflt.out.toFloat32Array(), await want.toFloat32Array()) > 1e-3, 'the default null class differs');
  model.dispose();
});

// The output is written through a temporary file renamed over it, which is only right for a
// regular file: a symlink must keep being a link (its target gets the file) and a FIFO or device
// (as /dev/null) must be written into, not replaced by a regular file.
test('--output through a symlink writes its target; into a FIFO, writes into it', async (t) => {
  const real = path.join(dir, 'real.safetensors');
  const link = path.join(dir, 'link.safetensors');
  fs.writeFileSync(real, 'old');
  fs.symlinkSync(real, link);
  t.is(cli('run', '--preset', 'DiT-S/8', '--input-size', '1,8,8', '--steps', '1', '--output', link).code, 0);
  t.true(fs.lstatSync(link).isSymbolicLink(), 'the link is still a link');
  t.deepEqual((await readSafetensors(real)).out.shape, [1, 8, 1, 8, 8]);
  // a dangling chain of relative links: the file appears at its end, the links stay
  const end = path.join(dir, 'made-by-link.safetensors');
  const first = path.join(dir, 'dangling-first.safetensors');
  fs.symlinkSync('dangling-second.safetensors', first);
  fs.symlinkSync(path.basename(end), path.join(dir, 'dangling-second.safetensors'));
  const viaDangling = cli('run', '--preset', 'DiT-S/8', '--input-size', '1,8,8', '--steps', '1', '--output', first);
  t.is(viaDangling.code, 0, viaDangling.err);
  t.true(fs.lstatSync(first).isSymbolicLink(), 'the dangling link is still a link');
  t.deepEqual((await readSafetensors(end)).out.shape, [1, 8, 1, 8, 8]);
  const fifo = path.join(dir, 'out.fifo');
  t.is(spawnSync('mkfifo', [fifo]).status, 0);
  const child = spawnAsync(process.execPath, [BIN, 'run', '--preset', 'DiT-S/8', '--input-size', '1,8,8', '--steps', '1', '--output', fifo], { env: { ...process.env, DIT_DEVICE: 'cpu' } });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve)); // before it can happen
  const chunks: Buffer[] = [];
  for await (const chunk of fs.createReadStream(fifo)) chunks.push(chunk as Buffer);
  t.is(await exited, 0);
  const bytes = Buffer.concat(chunks);
  t.true(bytes.length > 8 && Number(bytes.readBigUInt64LE(0)) < bytes.length, 'a safetensors stream came through the FIFO');
  t.true(fs.statSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
});

test('bad arguments and files: one line on stderr, exit 2, no output file', async (t) => {
  // a folder of its own: the tests of this file run concurrently, and others write into `dir`
  const own = fs.mkdtempSync(path.join(dir, 'bad-'));
  const out = path.join(own, 'never.safetensors');
  assertUserError(t, cli('frobnicate'), /unknown command 'frobnicate'/);
  assertUserError(t, cli('forward', '--preset', 'DiT-S/2', '--weights', '/no/such.safetensors', '--input', '/no/in.safetensors', '--output', out), /\/no\/such.safetensors/);
  assertUserError(t, cli('forward', '--weights', fixturePath('dit_hd72.safetensors'), '--output', out), /--input is required/);
  assertUserError(t, cli('run', '--preset', 'DiT-Q/2'), /unknown preset 'DiT-Q\/2'/);
  assertUserError(t, cli('run', '--preset', 'DiT-S/2', '--batch', 'zero'), /--batch must be an integer >= 1/);
  assertUserError(t, cli('run', '--preset', 'DiT-S/2', '--device', 'tpu'), /--device must be auto, cpu or cuda/);
  assertUserError(t, cli('info', '--verbose'), /Unknown option '--verbose'/);
  const input = fixturePath('dit_hd72.safetensors');
  assertUserError(t, cliWithEnv({ DIT_DEVICE: 'tpu' }, 'forward', '--weights', input, '--input', input, '--output', out), /Expected DIT_DEVICE to be 'cpu', 'cuda' or 'auto' but it is 'tpu'/);
  // info still answers, and says what is wrong; the value is read case-insensitively
  const info = cliWithEnv({ DIT_DEVICE: 'tpu' }, 'info');
  t.is(info.code, 0, info.err);
  t.regex(info.out, /DIT_DEVICE: Expected DIT_DEVICE to be 'cpu', 'cuda' or 'auto' but it is 'tpu'/);
  t.regex(cliWithEnv({ DIT_DEVICE: ' CPU' }, 'info').out, /default device: cpu/);
  // an input file without y, and one whose x has the wrong shape
  const noY = path.join(own, 'noy.safetensors');
  const fx = await readSafetensors(fixturePath('dit_hd72.safetensors'));
  await writeSafetensors(noY, { x: fx.x, t: fx.t });
  assertUserError(t, cli('forward', '--weights', fixturePath('dit_hd72.safetensors'), '--input', noY, '--output', out), /has no tensor "y"/);
  const badX = path.join(own, 'badx.safetensors');
  await writeSafetensors(badX, { x: Tensor.zeros([1, 4, 3, 4, 6]), t: fx.t, y: fx.y });
  assertUserError(t, cli('forward', '--weights', fixturePath('dit_hd72.safetensors'), '--input', badX, '--output', out), /Expected x to have shape \[B, 4, 3, 4, 4\]/);
  const garbage = path.join(own, 'garbage.safetensors');
  fs.writeFileSync(garbage, 'not a safetensors file at all');
  assertUserError(t, cli('forward', '--weights', garbage, '--input', garbage, '--output', out), /invalid safetensors file/);
  // an output that cannot be written fails before the work, not after it
  assertUserError(t, cli('forward', '--weights', fixturePath('dit_hd72.safetensors'), '--input', noY, '--output', '/no/such/dir/o.safetensors'), /--output: cannot write "\/no\/such\/dir\/o.safetensors"/);
  assertUserError(t, cli('bench', '--suite', 'kernels', '--json', '/no/such/dir/b.json'), /--json: cannot write/);
  const loop = path.join(own, 'loop.safetensors');
  fs.symlinkSync(path.join(own, 'loop-back.safetensors'), loop);
  fs.symlinkSync(loop, path.join(own, 'loop-back.safetensors'));
  assertUserError(t, cli('run', '--preset', 'DiT-S/8', '--output', loop), /--output: cannot write ".*loop.safetensors": ELOOP/);
  assertUserError(t, cli('bench', '--suite', 'kernels', '--rounds', '0'), /--rounds must be an integer in \[1, 100\] \(got '0'\)/);
  assertUserError(t, cli('bench', '--breakdown', '--device', 'cpu'), /--breakdown times the model op by op with GPU events: it needs --suite model or all on --device cuda/);
  assertUserError(t, cli('run', '--preset', 'DiT-S/8', '--output', ''), /--output needs a file path/);
  // numbers: empty is not 0, seeds fit 32 bits, a null config file is refused
  assertUserError(t, cli('run', '--preset', 'DiT-S/8', '--input-size', '1,8,8', '--cfg-scale', ''), /--cfg-scale must be a number \(got ''\)/);
  assertUserError(t, cli('run', '--preset', 'DiT-S/8', '--input-size', '1,8,8', '--seed', '4294967296'), /--seed must be an integer in \[0, 4294967295\]/);
  const nullConfig = path.join(own, 'null.json');
  fs.writeFileSync(nullConfig, 'null');
  assertUserError(t, cli('run', '--config', nullConfig), /must hold a JSON object/);
  t.false(fs.existsSync(out), 'no partial output');
  t.deepEqual(fs.readdirSync(own).filter((f) => f.includes('.tmp-')), [], 'no temporary files left');
});

test('bench runs the kernel suite and writes its JSON (also as node dist/lib/cli.js)', (t) => {
  const json = path.join(dir, 'bench.json');
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'dist', 'lib', 'cli.js'), 'bench', '--suite', 'kernels', '--no-torch', '--iters', '1', '--rounds', '2', '--json', json], {
    encoding: 'utf8', env: { ...process.env, DIT_DEVICE: 'cpu' },
  });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /measured peaks: GEMM [0-9.]+ GFLOP\/s/);
  const doc = JSON.parse(fs.readFileSync(json, 'utf8'));
  const names = doc.rows.map((row: { name: string }) => row.name);
  for (const name of ['linear_qkv', 'attention', 'layer_norm_modulate', 'causal_conv3d', 'patch_embed3d']) t.true(names.includes(name), name);
  t.true(doc.rows.every((row: { medianMs: number }) => row.medianMs > 0));
  t.is(doc.rounds, 2);
});

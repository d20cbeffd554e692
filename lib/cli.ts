/**
 * dit-native info | forward | run | bench. Bad arguments or files print one line on stderr and
 * exit with code 2; output files appear only complete (written to a temporary name, renamed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveDevice, type Device } from './backend';
import { runBench } from './bench';
import { DitError } from './errors';
import { backendInfo } from './info';
import { outputTarget, type OutputTarget } from './output_file';
import { DiT } from './dit/model';
import { readSafetensorsWithMetadata, SafetensorsReader, writeSafetensors } from './safetensors';
import { Tensor } from './tensor';
import { MAX_SEED, metadataConfig, type DiTConfigInput } from './dit/config';

const USAGE = `usage:
  dit-native info [--json]
  dit-native forward (--config c.json | --preset NAME) --weights w.safetensors --input in.safetensors --output out.safetensors
                     [--device auto|cpu|cuda] [--dtype f32|bf16|f16] [--cfg-scale S]
  dit-native run (--preset NAME | --config c.json) [--weights w.safetensors] [--batch B] [--steps N] [--seed S]
                 [--input-size T,H,W] [--cfg-scale S] [--device ...] [--dtype ...] [--output out.safetensors]
  dit-native bench [--suite kernels|model|all] [--device ...] [--dtype f32|bf16|f16] [--json FILE] [--iters N] [--rounds R] [--no-torch] [--small] [--breakdown]`;

/** A user error: reported as one line, exit code 2. */
class UsageError extends Error {}

function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>) {
  // `--cfg-scale -2`: a value that looks like an option (a negative number) joined to its flag, which
  // parseArgs reads as ambiguous otherwise
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : '';
    if (options[name]?.type === 'string' && /^-[0-9.]/.test(argv[i + 1] ?? '')) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

const MODEL_OPTIONS = {
  config: { type: 'string' },
  preset: { type: 'string' },
  weights: { type: 'string' },
  device: { type: 'string' },
  dtype: { type: 'string' },
  'cfg-scale': { type: 'string' },
} as const;

function readConfig(file: string | undefined): DiTConfigInput | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read config "${file}": ${(e as Error).message}`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config "${file}" is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UsageError(`config "${file}" must hold a JSON object`);
  return config as DiTConfigInput;
}

/** The config a weights file carries in its metadata (as DiT.load reads it), or undefined. */
async function weightsConfig(file: string): Promise<DiTConfigInput | undefined> {
  const reader = await SafetensorsReader.open(file);
  try {
    return metadataConfig(reader.metadata, `"${file}"`);
  } finally {
    await reader.close();
  }
}

function deviceArg(v: unknown): Device | 'auto' {
  if (v === undefined) return 'auto';
  if (v !== 'auto' && v !== 'cpu' && v !== 'cuda') throw new UsageError(`--device must be auto, cpu or cuda (got '${v}')`);
  return v;
}

function dtypeArg(v: unknown): 'f32' | 'f16' | 'bf16' | undefined {
  if (v === undefined) return undefined;  // the config's dtype, else f32
  if (v !== 'f32' && v !== 'f16' && v !== 'bf16') throw new UsageError(`--dtype must be f32, bf16 or f16 (got '${v}')`);
  return v;
}

function numberArg(name: string, v: unknown, integer: boolean, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = String(v).trim() === '' ? NaN : Number(v);  // Number('') is 0
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range = min === -Infinity ? '' : max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` in [${min}, ${max}]`;
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}${range} (got '${v}')`);
  }
  return n;
}

function checkModelSource(o: Record<string, string | boolean | undefined>): void {
  if (o.config !== undefined && o.preset !== undefined) throw new UsageError('give either --config or --preset, not both');
}

/** The model of --config / --preset / --weights; `config` replaces the --config file's (run's --input-size). */
async function loadModel(o: Record<string, string | boolean | undefined>, requireWeights: boolean, config = readConfig(o.config as string | undefined)): Promise<DiT> {
  if (requireWeights && o.weights === undefined) throw new UsageError('--weights is required');
  return DiT.load({
    config,
    preset: o.preset as string | undefined,
    weights: o.weights as string | undefined,
    device: deviceArg(o.device),
    dtype: dtypeArg(o.dtype),
    seed: numberArg('seed', o.seed, true, 0, MAX_SEED),
  });
}

function describeModel(m: DiT): string {
  const c = m.config;
  return `DiT depth ${c.depth}, hidden ${c.hidden_size}, ${c.num_heads} heads, patch [${c.patch_size}], input [${c.input_size}], ` +
    `condition ${c.condition}, ${m.device} ${m.dtype}`;
}

async function cmdInfo(argv: string[]): Promise<number> {
  const o = parse(argv, { json: { type: 'boolean' } });
  const info = backendInfo();
  if (o.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `dit-native backends: ${info.backends.join(', ')} (default device: ${info.defaultDevice})`,
    `cpu: ${info.cpu.isa} kernels, ${info.cpu.threads} threads`,
  ];
  if (info.deviceOverrideError) lines.push(`DIT_DEVICE: ${info.deviceOverrideError} (device 'auto' fails until it is mended)`);
  for (const d of info.cuda.devices) lines.push(`cuda: ${d.name}, compute capability ${d.computeCapability}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB`);
  if (!info.cuda.available) lines.push(`cuda: not used: ${info.cuda.reason}`);
  else if (info.cuda.autoReason) lines.push(`cuda: ${info.cuda.autoReason}`);
  if (info.cuda.compiled) lines.push(`cuda binary targets: ${info.cuda.architectures.join(' ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Fails before any work, not after it, when `file` cannot be created (no such folder, no write access). */
function checkWritable(flag: string, file: string): void {
  if (file === '') throw new UsageError(`${flag} needs a file path`);
  let target: OutputTarget;
  try {
    if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${flag}: "${file}" is a folder`);
    // a device or FIFO is written in place (its own permission counts); a file, through a
    // temporary file in its folder (a symlink's target's folder)
    target = outputTarget(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // a loop of links, a folder on the way without search permission, a path through a file
    throw new UsageError(`${flag}: cannot write "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (target.inPlace) {
    try {
      fs.accessSync(target.path, fs.constants.W_OK);
      return;
    } catch {
      throw new UsageError(`${flag}: cannot write "${file}": no write permission`);
    }
  }
  const dir = path.dirname(path.resolve(target.path));
  let writable = false;
  try {
    writable = fs.statSync(dir).isDirectory();
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    writable = false;
  }
  if (!writable) throw new UsageError(`${flag}: cannot write "${file}": the folder "${dir}" does not exist or is not writable`);
}

async function cmdForward(argv: string[]): Promise<number> {
  const o = parse(argv, { ...MODEL_OPTIONS, input: { type: 'string' }, output: { type: 'string' } });
  checkModelSource(o);
  if (o.input === undefined) throw new UsageError('--input is required');
  if (o.output === undefined) throw new UsageError('--output is required');
  checkWritable('--output', o.output as string);
  const cfgScale = numberArg('cfg-scale', o['cfg-scale'], false, -Infinity);
  const model = await loadModel(o, true);
  const { tensors } = await readSafetensorsWithMetadata(o.input as string, { device: model.device });
  for (const k of ['x', 't', 'y']) {
    if (!tensors[k]) throw new UsageError(`input file "${o.input}" has no tensor "${k}" (it needs x, t and y)`);
  }
  const start = performance.now();
  const input = { x: tensors.x, t: tensors.t, y: tensors.y };
  // `y_null` in the input file: the unconditional input of the guidance (default: the null class / y_embedding)
  const yNull = tensors.y_null;
  const out = cfgScale === undefined ? await model.forward(input) : await model.forwardWithCfg({ ...input, cfgScale, ...(yNull ? { yNull } : {}) });
  const ms = performance.now() - start;
  await writeSafetensors(o.output as string, { out });
  process.stdout.write(`${describeModel(model)}: out [${out.shape}] in ${ms.toFixed(1)} ms -> ${o.output}\n`);
  return 0;
}

async function cmdRun(argv: string[]): Promise<number> {
  const o = parse(argv, {
    ...MODEL_OPTIONS,
    batch: { type: 'string' }, steps: { type: 'string' }, seed: { type: 'string' }, 'input-size': { type: 'string' }, output: { type: 'string' },
  });
  if (o.config === undefined && o.preset === undefined && o.weights === undefined) throw new UsageError('give --preset NAME (e.g. DiT-S/2), --config or --weights');
  const batch = numberArg('batch', o.batch, true, 1) ?? 1;
  const steps = numberArg('steps', o.steps, true, 1) ?? 1;
  const seed = numberArg('seed', o.seed, true, 0, MAX_SEED) ?? 0;
  const cfgScale = numberArg('cfg-scale', o['cfg-scale'], false, -Infinity);
  if (o.output !== undefined) checkWritable('--output', o.output as string);
  checkModelSource(o);
  let config = readConfig(o.config as string | undefined);
  if (o['input-size'] !== undefined) {
    const size = String(o['input-size']).split(/[,x]/).map(Number);
    if (size.length !== 3 || !size.every((v) => Number.isInteger(v) && v > 0)) throw new UsageError(`--input-size must be T,H,W (got '${o['input-size']}')`);
    // over the config the weights carry, when no other is given (a config turns that lookup off)
    if (config === undefined && o.preset === undefined && o.weights !== undefined) config = await weightsConfig(o.weights as string);
    config = { ...(config ?? {}), input_size: size };
  }
  const loadStart = performance.now();
  const model = await loadModel(o, false, config);
  const loadMs = performance.now() - loadStart;
  const [T, H, W] = model.config.input_size;
  let state = (seed + 1) >>> 0;
  const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const x = Tensor.from(Float32Array.from({ length: batch * model.config.in_channels * T * H * W }, gauss), [batch, model.config.in_channels, T, H, W], { device: model.device });
  const d = model.derived;
  const y = d.numClasses !== null
    ? Array.from({ length: batch }, (_, i) => i % d.numClasses!)
    : Tensor.from(Float32Array.from({ length: batch * model.config.caption_channels }, gauss), [batch, 1, 1, model.config.caption_channels], { device: model.device });
  const times: number[] = [];
  let out: Tensor | undefined;
  for (let s = 0; s < steps; s++) {
    const t = new Array<number>(batch).fill(Math.round(999 * (1 - s / steps)));
    const start = performance.now();
    out?.dispose();
    out = cfgScale === undefined ? await model.forward({ x, t, y }) : await model.forwardWithCfg({ x, t, y, cfgScale });
    times.push(performance.now() - start);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const tokens = d.tokens * batch * (cfgScale === undefined ? 1 : 2);
  process.stdout.write(
    `${describeModel(model)}${o.weights === undefined ? `, random weights (seed ${seed})` : `, weights ${o.weights}`}\n` +
      `loaded in ${loadMs.toFixed(0)} ms; ${steps} forward${steps > 1 ? 's' : ''} of batch ${batch}${cfgScale === undefined ? '' : ` with CFG ${cfgScale}`} ` +
      `(${tokens} tokens each): first ${times[0].toFixed(1)} ms, median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms\n`,
  );
  if (o.output !== undefined) {
    await writeSafetensors(o.output as string, { out: out! });
    process.stdout.write(`wrote out [${out!.shape}] to ${o.output}\n`);
  }
  return 0;
}

async function cmdBench(argv: string[]): Promise<number> {
  const o = parse(argv, { suite: { type: 'string' }, device: { type: 'string' }, dtype: { type: 'string' }, json: { type: 'string' }, iters: { type: 'string' }, rounds: { type: 'string' }, 'no-torch': { type: 'boolean' }, small: { type: 'boolean' }, breakdown: { type: 'boolean' } });
  const suite = (o.suite ?? 'all') as string;
  if (!['kernels', 'model', 'all'].includes(suite)) throw new UsageError(`--suite must be kernels, model or all (got '${suite}')`);
  const device = deviceArg(o.device);
  if (o.breakdown === true && (suite === 'kernels' || resolveDevice(device) !== 'cuda'))
    throw new UsageError('--breakdown times the model op by op with GPU events: it needs --suite model or all on --device cuda');
  if (o.json !== undefined) checkWritable('--json', o.json as string);
  return runBench({
    suite: suite as 'kernels' | 'model' | 'all',
    device,
    jsonPath: o.json as string | undefined,
    iters: numberArg('iters', o.iters, true, 1),
    rounds: numberArg('rounds', o.rounds, true, 1, 100),
    torch: !o['no-torch'],
    small: o.small === true,
    breakdown: o.breakdown === true,
    dtype: o.dtype === undefined ? undefined : dtypeArg(o.dtype),
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'info': return await cmdInfo(rest);
      case 'forward': return await cmdForward(rest);
      case 'run': return await cmdRun(rest);
      case 'bench': return await cmdBench(rest);
      case undefined: case '-h': case '--help': case 'help':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (e) {
    const userError = e instanceof UsageError || e instanceof TypeError || e instanceof RangeError ||
      (e instanceof DitError && e.code !== 'ERR_DIT_NATIVE' && e.code !== 'ERR_DIT_BINDING');
    const message = ((e as Error)?.message ?? String(e)).split('\n')[0];
    process.stderr.write(`dit-native ${command ?? ''}: ${message}\n`);
    return userError ? 2 : 1;
  }
}

// `node dist/lib/cli.js ...` works like the bin script
if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

#!/usr/bin/env bash
# What a user gets from npm: pack the package (with its prebuilt binary), install the tarball
# into a fresh project in a temporary directory with only node/npm on PATH (no compiler, cmake
# or nvcc; its install script, if npm runs it, must find the prebuilt binary), and use it: require, ESM import, TypeScript types, `npx dit-native info` and `run`.
# Prints "package: N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
passed=0
failed=0
check() {
  local name=$1
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "  ok   $name"
  else
    failed=$((failed + 1))
    echo "  FAIL $name"
    echo "$out" | tail -20 | sed 's/^/       /'
  fi
}
finish() { echo "package: ${passed} passed, ${failed} failed"; [ "$failed" -eq 0 ]; exit $?; }

[ -f prebuilds/linux-x64/dit-native.node ] || { echo "no prebuilt binary: run npm run prebuildify first"; failed=1; finish; }
[ -f dist/lib/index.js ] || npm run build:ts >/dev/null || { failed=1; finish; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
size=$(stat -c %s "$work/$tarball")
echo "tarball: $tarball, $((size / 1024)) KiB"
check "tarball under 8 MiB" test "$size" -lt $((8 * 1024 * 1024))
check "tarball holds the prebuilt binary and no tests" bash -c "tar -tzf '$work/$tarball' | grep -q 'package/prebuilds/linux-x64/dit-native.node' && ! tar -tzf '$work/$tarball' | grep -q 'package/test/'"

# a PATH with node, npm, npx and a shell only
bin="$work/bin"
mkdir -p "$bin"
ln -s "$(command -v node)" "$bin/node"
ln -s "$(command -v npm)" "$bin/npm"
ln -s "$(command -v npx)" "$bin/npx"
ln -s "$(command -v sh)" "$bin/sh"
ln -s "$(command -v bash)" "$bin/bash"
app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{"name":"app","version":"1.0.0","private":true}' > package.json
check "npm install of the tarball (no compiler on PATH)" env PATH="$bin" npm install --no-audit --no-fund "$work/$tarball"
check "no compiler was reachable" env PATH="$bin" bash -c '! command -v cmake && ! command -v g++ && ! command -v nvcc'
check "require() and a forward on the CPU" env PATH="$bin" DIT_DEVICE=cpu node -e "
  const { DiT, Tensor, backendInfo } = require('dit-native');
  (async () => {
    const m = await DiT.load({ preset: 'DiT-S/2', config: { input_size: [1, 8, 8], condition: 'label_10' } });
    const out = await m.forward({ x: Tensor.zeros([1, 4, 1, 8, 8]), t: [10], y: [3] });
    if (out.shape.join() !== '1,8,1,8,8') throw new Error('shape ' + out.shape);
    console.log(backendInfo().cpu);
  })().catch((e) => { console.error(e); process.exit(1); });"
check "ESM import" env PATH="$bin" node --input-type=module -e "
  import { DiT, Tensor, ops, readSafetensors, writeSafetensors, backendInfo } from 'dit-native';
  import dn from 'dit-native';
  if (typeof DiT.load !== 'function' || typeof ops.linear !== 'function' || dn.Tensor !== Tensor) process.exit(1);
  const y = ops.silu(Tensor.from([0, 1], [2]));
  console.log(await y.toFloat32Array(), typeof readSafetensors, typeof writeSafetensors, backendInfo().backends);"
cat > "$app/check.ts" <<'TS'
import { DiT, Tensor, ops, backendInfo, type DiTConfig } from 'dit-native';
async function main(): Promise<number> {
  const model: DiT = await DiT.load({ preset: 'DiT-S/2', dtype: 'f32' });
  const t: Tensor = ops.linear(Tensor.zeros([2, 3]), Tensor.zeros([4, 3]));
  const c: DiTConfig = model.config;
  return t.shape[1] + c.depth + backendInfo().cpu.threads;
}
void main;
TS
echo '{"compilerOptions":{"strict":true,"noEmit":true,"module":"commonjs","moduleResolution":"node","target":"es2022","types":[]},"files":["check.ts"]}' > "$app/tsconfig.json"
check "TypeScript types resolve (tsc --strict)" env PATH="$bin" node "$root/node_modules/typescript/bin/tsc" -p "$app/tsconfig.json"
check "npx dit-native info" env PATH="$bin" npx --no-install dit-native info
check "npx dit-native run --preset DiT-S/2" env PATH="$bin" DIT_DEVICE=cpu npx --no-install dit-native run --preset DiT-S/2 --input-size 2,8,8
check "a bad argument exits 2" env PATH="$bin" bash -c 'npx --no-install dit-native run --preset nope 2>/dev/null; test $? -eq 2'

# --build-from-source: the install script builds with cmake-js from the tarball's sources (CPU-only
# here to keep CI short) and the package then loads that build
src_app="$work/src-app"
mkdir -p "$src_app"
cd "$src_app"
echo '{"name":"src-app","version":"1.0.0","private":true}' > package.json
check "npm install --build-from-source builds from the tarball" env npm_cmake_DIT_CUDA=OFF npm_config_build_from_source=true \
  npm install --no-audit --no-fund --foreground-scripts "$work/$tarball"
check "the source build is what loads" node -e "
  const fs = require('fs');
  if (!fs.existsSync('node_modules/dit-native/build/Release/dit_native.node')) throw new Error('no source build');
  const { backendInfo } = require('dit-native');
  if (backendInfo().cuda.compiled) throw new Error('expected the CPU-only source build');"
finish

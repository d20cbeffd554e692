'use strict';
// `npm install` of dit-native: use the prebuilt binary (prebuilds/<platform>-<arch>/) when it loads
// here; build from source with cmake-js only when none fits or --build-from-source is given.
// A source build downloads nothing (Node-API headers come with cmake-js's node-api-headers).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const fromSource = process.env.npm_config_build_from_source === 'true' || process.argv.includes('--build-from-source');

if (!fromSource) {
  try {
    require('node-gyp-build')(root);
    process.exit(0);
  } catch (e) {
    console.log(`dit-native: no usable prebuilt binary (${String(e.message).split('\n')[0]}); building from source`);
  }
}
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  console.error('dit-native: cannot build from source: cmake-js is not installed');
  process.exit(1);
}
const r = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);

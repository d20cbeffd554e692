#!/usr/bin/env node
'use strict';
require('../dist/lib/cli.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`dit-native: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; },
);

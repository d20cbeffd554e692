#!/usr/bin/env node
// Rewrites CUDA sources of native/cuda into plain C++ for the CUDA emulator (CMake runs it for
// dit_cuda_check_emu): the three constructs C++ cannot spell, everything else is left to the
// emulator's headers (include/).
//   kernel<<<grid, block, shared, stream>>>(args)  ->  ::dit_emu::Launch(grid, block, shared, stream).with(kernel)(args)
//   extern __shared__ T name[];                     ->  T* const name = static_cast<T*>(::dit_emu::dynamic_shared());
//   asm reading %globaltimer into x                 ->  x = ::dit_emu::globaltimer();
// Any other inline assembly is an error: the emulator would have to learn that instruction.
// Usage: translate.js IN OUT
'use strict';
const fs = require('fs');
const path = require('path');

function kernelStart(text, end) {
  // the kernel expression ending at `end` (exclusive): an id-expression, maybe with template
  // arguments (angle brackets inside parentheses, as in `k<(A < B)>`, do not count)
  let i = end;
  while (i > 0 && /\s/.test(text[i - 1])) i--;
  if (text[i - 1] === '>') {
    let angles = 0;
    let parens = 0;
    do {
      i--;
      const c = text[i];
      if (c === ')') parens++;
      else if (c === '(') parens--;
      else if (parens === 0 && c === '>') angles++;
      else if (parens === 0 && c === '<') angles--;
    } while (i > 0 && (angles > 0 || parens > 0));
  }
  while (i > 0 && /[\w:]/.test(text[i - 1])) i--;
  return i;
}

function translateLaunches(text, file) {
  let out = '';
  let pos = 0;
  for (;;) {
    const open = text.indexOf('<<<', pos);
    if (open < 0) break;
    const close = text.indexOf('>>>', open);
    if (close < 0) throw new Error(`${file}: <<< without >>>`);
    const start = kernelStart(text, open);
    if (start === open) throw new Error(`${file}: no kernel name before <<<`);
    out += text.slice(pos, start);
    const kernel = text.slice(start, open);
    const newlines = '\n'.repeat((kernel.match(/\n/g) ?? []).length);  // keeps the #line numbering
    out += `::dit_emu::Launch(${text.slice(open + 3, close)}).with(${kernel.trim()})${newlines}`;
    pos = close + 3;
  }
  return out + text.slice(pos);
}

function translate(text, file) {
  text = translateLaunches(text, file);
  text = text.replace(
    /extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([\w:][\w:\s]*?)\s+(\w+)\s*\[\s*\]\s*;/g,
    (_, type, name) => `${type}* const ${name} = static_cast<${type}*>(::dit_emu::dynamic_shared());`,
  );
  text = text.replace(
    /asm\s+volatile\s*\(\s*"mov\.u64 %0, %%globaltimer;"\s*:\s*"=l"\((\w+)\)\s*\)\s*;/g,
    (_, name) => `${name} = ::dit_emu::globaltimer();`,
  );
  const asm = /\basm\s+(volatile\s*)?\(|\basm\s*\(/.exec(text);
  if (asm) {
    const line = text.slice(0, asm.index).split('\n').length;
    throw new Error(`${file}:${line}: inline assembly the CUDA emulator does not know`);
  }
  return text;
}

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: translate.js IN OUT');
  process.exit(2);
}
try {
  const source = fs.readFileSync(input, 'utf8');
  const body = translate(source, input);
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(output, `#line 1 "${path.resolve(input)}"\n${body}`);
} catch (err) {
  console.error(`translate.js: ${err.message}`);
  process.exit(1);
}

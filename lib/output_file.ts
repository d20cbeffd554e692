/**
 * Writing an output file so that it appears only complete: the bytes go to a temporary file next
 * to the target, are fsynced, and are renamed over it. The rename replaces a directory entry, so
 * it is only right for regular files: a symlink is followed to its target first (renaming over the
 * link would replace the link and leave its target untouched), and anything else that exists (a
 * device such as /dev/null, a FIFO) is written in place, as a shell redirection does (renaming
 * over /dev/null as root would replace the device with a regular file).
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export interface OutputTarget {
  /** the path to write: the symlink's target for a link to a regular file */
  path: string;
  /** write straight into it (a device, a FIFO, a dangling link) instead of a temporary file and a rename */
  inPlace: boolean;
}

export function outputTarget(file: string): OutputTarget {
  const st = fs.statSync(file, { throwIfNoEntry: false }); // follows links
  if (st) return st.isFile() ? { path: fs.realpathSync(file), inPlace: false } : { path: file, inPlace: true };
  // a dangling link: opening it for writing creates its target, a rename would replace the link
  if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) return { path: file, inPlace: true };
  return { path: file, inPlace: false };
}

function temporaryName(target: string): string {
  const random = Math.random().toString(36).slice(2, 10).padEnd(8, '0');
  return path.join(path.dirname(target), `${path.basename(target)}.tmp-${process.pid}-${random}`);
}

/** Writes `data` to `file` through a temporary file and a rename (see above); the temporary file is removed on failure. */
export async function writeOutputFile(file: string, data: Uint8Array | string): Promise<void> {
  const target = outputTarget(file);
  if (target.inPlace) return fsp.writeFile(target.path, data);
  const tmp = temporaryName(target.path);
  let created = false;
  try {
    const fh = await fsp.open(tmp, 'wx');
    created = true;
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target.path);
  } catch (e) {
    if (created) await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}


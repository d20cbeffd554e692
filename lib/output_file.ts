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
  /** write straight into it (a device, a FIFO) instead of a temporary file and a rename */
  inPlace: boolean;
}

/** Linux's limit on the links followed in one path lookup (ELOOP beyond it). */
const MAX_LINK_HOPS = 40;

/** The path a dangling symlink would create when opened for writing: its chain of links followed to the missing end. */
function danglingLinkEnd(file: string): string {
  let at = path.resolve(file);
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    if (!fs.lstatSync(at, { throwIfNoEntry: false })?.isSymbolicLink()) return at;
    at = path.resolve(path.dirname(at), fs.readlinkSync(at));
  }
  throw Object.assign(new Error(`too many levels of symbolic links: "${file}"`), { code: 'ELOOP' });
}

export function outputTarget(file: string): OutputTarget {
  const st = fs.statSync(file, { throwIfNoEntry: false }); // follows links
  if (st) return st.isFile() ? { path: fs.realpathSync(file), inPlace: false } : { path: file, inPlace: true };
  // a dangling link: the file goes where the link points (a rename over the link would replace it)
  if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) return { path: danglingLinkEnd(file), inPlace: false };
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


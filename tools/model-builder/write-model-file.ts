/**
 * Writes model bytes the way an operator should: into a temp file beside the target, then a
 * rename, so a watching gateway never sees a half-written model.onnx.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Creates parent folders, writes `bytes` to a dot-prefixed temp file in the same folder, renames it over `path`. */
export async function writeModelFile(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  // Same folder keeps the rename on one file system, which is what makes it atomic.
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

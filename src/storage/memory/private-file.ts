// The embedded backend's files (state, ops log, tasks, policies) hold audit trails and tokens'
// traces: they are readable by their owner only (0600), whether created now or by an older version.
import { chmod, stat } from 'node:fs/promises';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';

/** The mode every file of the embedded backend is created with. */
export const PRIVATE_FILE_MODE = 0o600;

/** Narrows an existing file to 0600 (a file from before this rule); a missing file is fine. */
export async function restrictToOwner(file: string, log: Logger): Promise<void> {
  try {
    const mode = (await stat(file)).mode & 0o777;
    if (mode === PRIVATE_FILE_MODE) return;
    await chmod(file, PRIVATE_FILE_MODE);
    log.info({ file, was: `0${mode.toString(8)}` }, 'file narrowed to mode 0600');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    // Not ours to change (another owner): keep working, but say so.
    log.warn({ file, err: describeError(err) }, 'cannot narrow file to mode 0600');
  }
}

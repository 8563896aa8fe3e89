// Runs Prometheus's own linter, `promtool check metrics` (Debian package `prometheus`), on scraped
// text. A missing promtool is an error, never a silent skip.
import { execFile } from 'node:child_process';

/** promtool's complaints about `text` ('' when it passes). Rejects when promtool cannot run. */
export function promtoolProblems(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], { timeout: 30_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (err === null) return resolve('');
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new Error('promtool not found: install the Debian package "prometheus"'));
      }
      resolve(output === '' ? `promtool failed: ${err.message}` : output);
    });
    child.stdin?.end(text);
  });
}

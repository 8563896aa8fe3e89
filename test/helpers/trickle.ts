// A response body that keeps arriving: headers at once, then one byte every `everyMs`, `bytes`
// bytes in all. Each gap stays under a body timeout longer than `everyMs`, so only a deadline on the
// whole exchange can end it early (health checks, probes).
import type { ServerResponse } from 'node:http';

export function trickle(res: ServerResponse, status: number, bytes: number, everyMs: number): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  let left = bytes;
  const timer = setInterval(() => {
    if (--left === 0) {
      clearInterval(timer);
      res.end('.');
    } else res.write('.');
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

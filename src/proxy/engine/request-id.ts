// Request ids: random UUIDs (version 4, RFC 9562), as `crypto.randomUUID` makes them, but each one a
// single flat string. `randomUUID` joins 20 pieces per id (about 580 bytes of garbage per request in
// the proxy's allocation profile); here the random bytes and their text are made 256 ids at a time
// and an id is one 36-byte latin1 slice of that text.
import { randomFillSync } from 'node:crypto';

const BATCH = 256;
const random = Buffer.allocUnsafe(16 * BATCH);
const text = Buffer.allocUnsafe(36 * BATCH);
const HEX = Buffer.from('0123456789abcdef', 'latin1');
let next = BATCH;

function refill(): void {
  randomFillSync(random);
  let at = 0;
  for (let id = 0; id < BATCH; id++) {
    const r = id * 16;
    random[r + 6] = ((random[r + 6] as number) & 0x0f) | 0x40; // version 4
    random[r + 8] = ((random[r + 8] as number) & 0x3f) | 0x80; // variant 10
    for (let b = 0; b < 16; b++) {
      if (b === 4 || b === 6 || b === 8 || b === 10) text[at++] = 0x2d; // '-'
      const v = random[r + b] as number;
      text[at++] = HEX[v >> 4] as number;
      text[at++] = HEX[v & 15] as number;
    }
  }
  next = 0;
}

/** A new random request id: a lower-case version 4 UUID. */
export function newRequestId(): string {
  if (next === BATCH) refill();
  const at = next++ * 36;
  return text.toString('latin1', at, at + 36);
}

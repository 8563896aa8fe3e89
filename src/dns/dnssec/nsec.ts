// NSEC records for compact denial of existence (RFC 4034 §4, RFC 9824): the type bitmap and the
// record owned by the query name whose next name is its immediate successor `\000.<name>`, so it
// covers no other name (nothing to walk). Pure.
import { TYPE } from '../wire/constants.js';
import type { Rr } from '../wire/encoder.js';

/** Type bit maps field (RFC 4034 §4.1.2): windows of up to 32 bytes, empty windows left out. */
export function typeBitmap(types: Iterable<number>): Buffer {
  const windows = new Map<number, number[]>();
  for (const type of types) {
    const window = type >> 8;
    const low = type & 0xff;
    let bits = windows.get(window);
    if (bits === undefined) {
      bits = [];
      windows.set(window, bits);
    }
    bits.push(low);
  }
  const parts: Buffer[] = [];
  for (const window of [...windows.keys()].sort((a, b) => a - b)) {
    const lows = windows.get(window)!;
    const length = (Math.max(...lows) >> 3) + 1;
    const block = Buffer.alloc(2 + length);
    block[0] = window;
    block[1] = length;
    for (const low of lows) block[2 + (low >> 3)]! |= 0x80 >> (low & 7);
    parts.push(block);
  }
  return Buffer.concat(parts);
}

/** The bitmap a name that does not exist gets (RFC 9824 §3.1): RRSIG, NSEC and the NXNAME marker. */
export const NXNAME_BITMAP = typeBitmap([TYPE.RRSIG, TYPE.NSEC, TYPE.NXNAME]);

/** Wire length of a name (no trailing dot; '' = root). */
function wireLength(name: string): number {
  return name === '' ? 1 : name.length + 2;
}

/**
 * The next name of a compact NSEC: `\000.<owner>`, the owner's immediate successor in canonical
 * order (RFC 4471 §3.1.1). An owner too long for one more label gets `fallback` (the zone apex:
 * the NSEC then wraps around; validators check only its owner and bitmap for a NODATA proof).
 */
export function nextName(owner: string, fallback: string): string {
  if (wireLength(owner) + 2 > 255) return fallback;
  return owner === '' ? '\u0000' : `\u0000.${owner}`;
}

/** An NSEC record at `owner` with the given bitmap (its next name is not compressed: RFC 3845 §2.1.1). */
export function nsecRecord(owner: string, zone: string, ttl: number, bitmap: Buffer): Rr {
  return {
    owner,
    type: TYPE.NSEC,
    ttl,
    rdata: [{ name: nextName(owner, zone), compress: false }, bitmap],
  };
}

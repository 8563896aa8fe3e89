// Deterministic hashing for weighted sharing. Pure.
//
// A client network (the address masked to the decision's scope) is hashed with the name, and each
// region gets a uniform draw from that hash mixed with the region's own salt. Picking the region with
// the highest `-weight / ln(u)` (weighted rendezvous hashing, the Efraimidis–Spirakis key) makes the
// first choice proportional to the weights over many client networks, keeps one network's answer
// stable, and moves only the networks of a region that appears or disappears.

/** murmur3's 32-bit finaliser: a full-avalanche mix of a 32-bit integer. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a 32 of a string, finalised with mix32 (used for name and region salts). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Hash of `bytes` masked to `prefix` bits, with a salt. Bits past `prefix` do not matter. */
export function hashNetwork(bytes: Uint8Array, prefix: number, salt: number): number {
  let h = mix32(salt ^ Math.imul(prefix + 1, 0x9e3779b9));
  for (let i = 0; i < bytes.length; i += 4) {
    let word = 0;
    for (let j = 0; j < 4; j++) {
      const bit = (i + j) * 8;
      const keep = Math.max(0, Math.min(8, prefix - bit));
      const byte = (bytes[i + j] ?? 0) & ((0xff << (8 - keep)) & 0xff);
      word = (word << 8) | byte;
    }
    h = mix32(h ^ word) ^ Math.imul(i + 1, 0x27d4eb2d);
  }
  return mix32(h);
}

/** A uniform draw in (0, 1) for one region under one network hash. */
export function uniform(networkHash: number, regionSalt: number): number {
  return (mix32(networkHash ^ regionSalt) + 0.5) / 4294967296;
}

/** Weighted rendezvous key: the largest key wins; weight 0 always loses to any positive weight. */
export function rendezvousKey(networkHash: number, regionSalt: number, weight: number): number {
  if (weight <= 0) return -Infinity;
  return -weight / Math.log(uniform(networkHash, regionSalt));
}

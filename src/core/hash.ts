// 64-bit hashing for the consistent-hash ring. Pure; no BigInt on the hot path.
//
// `fnv1a64` is plain FNV-1a 64 over the UTF-8 bytes of a string. On its own it orders a ring badly:
// virtual-node labels differ only in a trailing suffix (`b1#17`), and FNV-1a's last byte barely
// reaches the high bits that sort the ring (busiest backend 2-3x the average). Every ring position
// and every key therefore goes through `hash64` = FNV-1a 64 followed by the MurmurHash3 `fmix64`
// finalizer (full avalanche: every input bit flips each output bit with probability ~1/2).
// fmix64 was chosen over SplitMix64 because it is a bijection with no additive constant, so
// `hash64` collides exactly when FNV-1a collides, and because HAProxy's `avalanche` and Envoy's
// ring hash use the same family of finalizers.
//
// 64-bit values are two unsigned 32-bit halves `[hi, lo]`; products use `Math.imul` plus a
// 16-bit-limb high-word computation, so everything stays in small integers (no heap numbers).

/** FNV-1a 64 offset basis 0xcbf29ce484222325. */
const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
/** The offset basis as [hi, lo], to start an incremental `fnv1aInto`. @internal */
export const FNV_OFFSET: readonly [number, number] = [FNV_OFFSET_HI, FNV_OFFSET_LO];
/** FNV 64 prime 0x100000001b3 = 2^40 + 0x1b3. */
const FNV_PRIME_LO = 0x1b3;

/** fmix64 multipliers 0xff51afd7ed558ccd and 0xc4ceb9fe1a85ec53. */
const C1_HI = 0xff51afd7;
const C1_LO = 0xed558ccd;
const C2_HI = 0xc4ceb9fe;
const C2_LO = 0x1a85ec53;

// Results of the allocation-free internal functions (single-threaded, so module scratch is safe).
// A typed array, not two `let`s: a uint32 above 2^30 stored in a module variable is boxed as a heap
// number, two allocations per hashed byte (about 150 bytes of garbage per proxied request).
const out = new Uint32Array(2);
const HI = 0;
const LO = 1;

/** One FNV-1a round for one byte on (hi, lo), leaving the result in `out`. */
function fnvByte(hi: number, lo: number, byte: number): void {
  lo = (lo ^ byte) >>> 0;
  // (hi·2^32 + lo) · (2^40 + 0x1b3) mod 2^64
  //   = lo·0x1b3 + (hi·0x1b3 + lo·2^8)·2^32   (the hi·2^72 term vanishes mod 2^64)
  const p = lo * FNV_PRIME_LO; // < 2^41: exact in a double
  out[LO] = p >>> 0;
  out[HI] = (Math.imul(hi, FNV_PRIME_LO) + ((p / 4294967296) | 0) + (lo << 8)) >>> 0;
}

/**
 * FNV-1a 64 of the UTF-8 encoding of `input`, continuing from the state (hi, lo) (the offset basis
 * for a fresh hash), into `out` without encoding to a buffer. @internal
 */
export function fnv1aInto(hi: number, lo: number, input: string): void {
  const n = input.length;
  for (let i = 0; i < n; i++) {
    let c = input.charCodeAt(i);
    if (c < 0x80) {
      fnvByte(hi, lo, c);
      hi = out[HI]!;
      lo = out[LO]!;
      continue;
    }
    if (c < 0x800) {
      fnvByte(hi, lo, 0xc0 | (c >> 6));
      fnvByte(out[HI]!, out[LO]!, 0x80 | (c & 0x3f));
      hi = out[HI]!;
      lo = out[LO]!;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? input.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        fnvByte(hi, lo, 0xf0 | (c >> 18));
        fnvByte(out[HI]!, out[LO]!, 0x80 | ((c >> 12) & 0x3f));
        fnvByte(out[HI]!, out[LO]!, 0x80 | ((c >> 6) & 0x3f));
        fnvByte(out[HI]!, out[LO]!, 0x80 | (c & 0x3f));
        hi = out[HI]!;
        lo = out[LO]!;
        continue;
      }
      c = 0xfffd; // a lone surrogate encodes as U+FFFD, like TextEncoder and Buffer.from
    }
    fnvByte(hi, lo, 0xe0 | (c >> 12));
    fnvByte(out[HI]!, out[LO]!, 0x80 | ((c >> 6) & 0x3f));
    fnvByte(out[HI]!, out[LO]!, 0x80 | (c & 0x3f));
    hi = out[HI]!;
    lo = out[LO]!;
  }
  out[HI] = hi;
  out[LO] = lo;
}

/** (ah·2^32 + al) · (bh·2^32 + bl) mod 2^64 into `out`. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  // High 32 bits of the 64-bit product al·bl, from 16-bit limbs (every partial sum < 2^32).
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const t0 = a0 * b0;
  const t1 = a1 * b0 + (t0 >>> 16);
  const t2 = a0 * b1 + (t1 & 0xffff);
  const carry = a1 * b1 + (t1 >>> 16) + (t2 >>> 16);
  out[LO] = Math.imul(al, bl) >>> 0;
  out[HI] = (carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/**
 * MurmurHash3 fmix64 of (hi, lo) into `out`. `k >>> 33` on halves is `lo = hi >>> 1, hi = 0`.
 * @internal
 */
export function fmix64Into(hi: number, lo: number): void {
  lo = (lo ^ (hi >>> 1)) >>> 0;
  mul64(hi, lo, C1_HI, C1_LO);
  hi = out[HI]!;
  lo = (out[LO]! ^ (out[HI]! >>> 1)) >>> 0;
  mul64(hi, lo, C2_HI, C2_LO);
  out[LO] = (out[LO]! ^ (out[HI]! >>> 1)) >>> 0;
}

/**
 * `hash64(input)` into internal scratch; read it with `lastHi()`/`lastLo()` right after.
 * Allocation-free variant for the ring's lookup path. @internal
 */
export function hash64Into(input: string): void {
  fnv1aInto(FNV_OFFSET_HI, FNV_OFFSET_LO, input);
  fmix64Into(out[HI]!, out[LO]!);
}
/** @internal */
export const lastHi = (): number => out[HI]!;
/** @internal */
export const lastLo = (): number => out[LO]!;

/** FNV-1a 64 over the UTF-8 bytes of `input`, as unsigned 32-bit halves. */
export function fnv1a64(input: string): [hi: number, lo: number] {
  fnv1aInto(FNV_OFFSET_HI, FNV_OFFSET_LO, input);
  return [out[HI]!, out[LO]!];
}

/** MurmurHash3's 64-bit finalizer (fmix64) of the 64-bit value hi·2^32 + lo. A bijection. */
export function fmix64(hi: number, lo: number): [hi: number, lo: number] {
  fmix64Into(hi >>> 0, lo >>> 0);
  return [out[HI]!, out[LO]!];
}

/** fmix64(fnv1a64(input)): the ring's hash for both point labels and request keys. */
export function hash64(input: string): [hi: number, lo: number] {
  hash64Into(input);
  return [out[HI]!, out[LO]!];
}

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hexByte = (b: number): string => HEX_BYTE[b & 0xff] as string;

/** 16 lower-case hex characters of a 64-bit value. */
export function toHex64(hi: number, lo: number): string {
  return (
    hexByte(hi >>> 24) +
    hexByte(hi >>> 16) +
    hexByte(hi >>> 8) +
    hexByte(hi) +
    hexByte(lo >>> 24) +
    hexByte(lo >>> 16) +
    hexByte(lo >>> 8) +
    hexByte(lo)
  );
}

/** `hash64(input)` as 16 lower-case hex characters. */
export function hash64Hex(input: string): string {
  hash64Into(input);
  return toHex64(out[HI]!, out[LO]!);
}

// Client addresses as the DNS hot path carries them: raw bytes, 4 for IPv4 and 16 for IPv6, with
// IPv4-mapped IPv6 (::ffff:a.b.c.d) already unmapped to its 4 bytes. The socket gives bytes (the
// batched UDP addon) or text (node:dgram, TCP), the ECS option gives bytes; from here to the geo
// tree walk nothing turns them into text again. Text is made only for logs and `explain`.
import { bytesToIp, ipToBytes } from '../../core/ip.js';
import type { EcsOption } from './reader.js';

/** 4 bytes (IPv4) or 16 bytes (IPv6, never IPv4-mapped). */
export type AddressBytes = Uint8Array;

/** The 4 IPv4 bytes of an IPv4-mapped IPv6 address, or the address itself. */
export function unmapBytes(bytes: Uint8Array): AddressBytes {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes.subarray(12, 16);
}

/** A textual address (a zone id such as %eth0 is ignored) → its bytes, unmapped; undefined if not an IP. */
export function addressFromText(text: string): AddressBytes | undefined {
  if (typeof text !== 'string') return undefined;
  const bytes = ipToBytes(text);
  return bytes === undefined ? undefined : unmapBytes(bytes);
}

/** The address as text (RFC 5952 for IPv6): for logs and `explain` only. */
export function addressText(bytes: AddressBytes): string {
  return bytes.length === 4 || bytes.length === 16 ? bytesToIp(bytes) : '';
}

/**
 * The ECS ADDRESS zero-padded to the full family length (4 or 16 bytes) and unmapped. Call only for an
 * option `ecsProblem` accepted (family 1 or 2, address no longer than the family).
 */
export function ecsAddressBytes(ecs: EcsOption): AddressBytes {
  const out = new Uint8Array(ecs.family === 1 ? 4 : 16);
  out.set(ecs.address.subarray(0, out.length));
  return unmapBytes(out);
}

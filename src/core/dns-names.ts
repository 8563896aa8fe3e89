// DNS name spelling shared by the zone validation (config/) and the compiled zones (dns/answer/):
// how a name written in a zone (`@`, relative, absolute with a trailing dot) becomes the lower-case
// absolute owner name without the trailing dot. Pure.

/** Lower case, without the trailing dot. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Owner names: '@' is the apex; a name equal to or ending in the zone is absolute; else relative. */
export function ownerName(name: string, zone: string): string {
  if (name === '@') return zone;
  if (name.endsWith('.')) return canonicalName(name);
  const n = canonicalName(name);
  if (n === zone || n.endsWith(`.${zone}`)) return n;
  return `${n}.${zone}`;
}

/** Whether `name` (canonical) is the zone's apex or below it. */
export function inZone(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}

/** A host name (RFC 952/1123): letters, digits and inner hyphens per label, no underscore or wildcard. */
export function isHostName(name: string): boolean {
  const n = name.replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return false;
  return n.split('.').every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

// RFC 1035 §5 master files ↔ zone configuration: `parseMasterFile` reads the subset Meridian can
// serve into the shape of a `dns.zones[]` entry (SOA, apex NS, static records), `exportMasterFile`
// writes one back. Pure (no I/O), so the API, the CLI and the tests share it. Hand-written: the npm
// zone-file parsers are unmaintained or accept far more than the zone model can hold, and the
// subset is small.
//
// Supported: $ORIGIN, $TTL (seconds or BIND units such as 1h30m), `@`, relative and absolute
// names, an omitted owner (the previous one), TTL and class in either order, class IN only,
// parentheses across lines, `;` comments, quoted strings with \" \\ \DDD escapes, and the types
// SOA (one, at the apex), NS, A, AAAA, CNAME, MX, TXT, SRV, CAA, PTR. Anything else — another type or
// class, $INCLUDE, $GENERATE, a name outside the zone, escapes in names — is rejected with its line
// number, and nothing is returned (all or nothing).
//
// The model keeps one text per TXT value, split into 255-byte strings on the wire: a TXT record's
// several strings are joined (as SPF and DKIM read them). Apex NS records all take the zone TTL.
import { invalid } from '../core/errors.js';
import { ipFamily } from '../core/ip.js';
import type { StaticRecordConfig, ZoneConfig } from './dns-schema.js';

/** What a master file yields: a zone entry without balanced names or transfer settings. */
export type MasterFileZone = Pick<ZoneConfig, 'name' | 'ttl' | 'soa' | 'ns' | 'records'>;

type RecordType = StaticRecordConfig['type'];
const RECORD_TYPES: ReadonlySet<string> = new Set([
  'A',
  'AAAA',
  'CNAME',
  'MX',
  'TXT',
  'SRV',
  'CAA',
  'NS',
  'PTR',
]);
const MAX_TTL = 0x7fffffff;

interface Token {
  readonly text: string;
  readonly quoted: boolean;
  /** Whether the token had a backslash escape (not supported in names). */
  readonly escaped: boolean;
  readonly line: number;
}

/** One logical entry: its tokens, whether it began with blank space (owner omitted), its first line. */
interface Entry {
  readonly tokens: Token[];
  readonly ownerOmitted: boolean;
  readonly line: number;
}

function fail(line: number, message: string): Error {
  return invalid(`line ${line}`, message);
}

/** Splits the text into entries: comments dropped, parentheses joined, quotes and escapes kept. */
function entries(text: string): Entry[] {
  const out: Entry[] = [];
  let tokens: Token[] = [];
  let depth = 0;
  let entryLine = 0;
  let ownerOmitted = false;
  const lines = text.split(/\r?\n/);
  for (let li = 0; li < lines.length; li++) {
    const line = li + 1;
    const s = lines[li]!;
    if (depth === 0) {
      tokens = [];
      entryLine = line;
      ownerOmitted = /^[ \t]/.test(s);
    }
    let i = 0;
    while (i < s.length) {
      const c = s[i]!;
      if (c === ' ' || c === '\t') {
        i++;
      } else if (c === ';') {
        break;
      } else if (c === '(') {
        depth++;
        i++;
      } else if (c === ')') {
        if (depth === 0) throw fail(line, 'unbalanced ")"');
        depth--;
        i++;
      } else if (c === '"') {
        let value = '';
        i++;
        for (;;) {
          if (i >= s.length) throw fail(line, 'unterminated quoted string');
          const d = s[i]!;
          if (d === '"') break;
          if (d === '\\') {
            const esc = unescapeAt(s, i, line);
            value += esc.char;
            i = esc.next;
          } else {
            value += d;
            i++;
          }
        }
        i++;
        tokens.push({ text: value, quoted: true, escaped: false, line });
      } else {
        let value = '';
        let escaped = false;
        while (i < s.length && !' \t;()"'.includes(s[i]!)) {
          if (s[i] === '\\') {
            escaped = true;
            const esc = unescapeAt(s, i, line);
            value += esc.char;
            i = esc.next;
          } else {
            value += s[i];
            i++;
          }
        }
        tokens.push({ text: value, quoted: false, escaped, line });
      }
    }
    if (depth === 0 && tokens.length > 0) out.push({ tokens, ownerOmitted, line: entryLine });
  }
  if (depth !== 0) throw fail(entryLine, 'unclosed "(" at the end of the file');
  return out;
}

/** `\X` or `\DDD` at position i: the character (a byte as a latin1 char for \DDD) and the next index. */
function unescapeAt(s: string, i: number, line: number): { char: string; next: number } {
  const digits = /^\d{3}/.exec(s.slice(i + 1, i + 4));
  if (digits !== null) {
    const n = Number(digits[0]);
    if (n > 255) throw fail(line, `escape \\${digits[0]} is not a byte`);
    return { char: String.fromCharCode(n), next: i + 4 };
  }
  if (i + 1 >= s.length) throw fail(line, 'a "\\" ends the line');
  return { char: s[i + 1]!, next: i + 2 };
}

const TTL_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** A TTL: seconds, or BIND units (1w2d3h4m5s); undefined when the token is not one. */
function ttlValue(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[smhdwSMHDW])+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+)([smhdwSMHDW])/g))
    total += Number(m[1]) * TTL_UNITS[m[2]!.toLowerCase()]!;
  return total;
}

/** The absolute lower-case name of a token (no trailing dot) given the current origin. */
function absoluteName(token: Token, origin: string, line: number): string {
  const text = token.text;
  if (token.escaped || token.quoted)
    throw fail(line, `escapes and quotes in names are not supported: ${text}`);
  if (text === '@') return origin;
  if (!/^[A-Za-z0-9_*.-]+$/.test(text)) throw fail(line, `not a domain name: ${JSON.stringify(text)}`);
  if (text.endsWith('.')) return text.slice(0, -1).toLowerCase();
  if (text.includes('..')) throw fail(line, `empty label in ${text}`);
  const name = text.toLowerCase();
  return origin === '' ? name : `${name}.${origin}`;
}

function uint(token: Token | undefined, max: number, what: string, line: number): number {
  if (token === undefined || token.quoted || !/^\d+$/.test(token.text) || Number(token.text) > max) {
    throw fail(
      line,
      `expected ${what} (0-${max}), got ${token === undefined ? 'nothing' : JSON.stringify(token.text)}`,
    );
  }
  return Number(token.text);
}

function expectCount(tokens: readonly Token[], n: number, type: string, line: number): void {
  if (tokens.length !== n) throw fail(line, `${type} takes ${n} fields, got ${tokens.length}`);
}

/** A name as the zone configuration writes it: relative to the zone when inside it, `@` for the apex. */
function configName(name: string, zone: string): string {
  if (name === zone) return '@';
  if (name.endsWith(`.${zone}`)) return name.slice(0, -(zone.length + 1));
  return `${name}.`;
}

/** A target name as the configuration writes it: always absolute (trailing dot). */
function configTarget(name: string): string {
  return `${name}.`;
}

/**
 * Parses a master file for `origin` (the zone's name; `$ORIGIN` may change the origin of relative
 * names, not the zone). Throws an E_VALIDATION error naming the first bad line.
 */
export function parseMasterFile(text: string, origin: string): MasterFileZone {
  const zone = origin.toLowerCase().replace(/\.$/, '');
  let currentOrigin = zone;
  let defaultTtl: number | undefined;
  let lastOwner: string | undefined;
  let lastTtl: number | undefined;
  let soa: MasterFileZone['soa'] | undefined;
  const ns: string[] = [];
  let nsTtl: number | undefined;
  const groups = new Map<string, { name: string; type: RecordType; ttl: number; values: string[] }>();

  for (const entry of entries(text)) {
    const tokens = entry.tokens;
    const line = entry.line;
    const first = tokens[0]!;
    if (!first.quoted && first.text.startsWith('$')) {
      const directive = first.text.toUpperCase();
      if (directive === '$ORIGIN') {
        expectCount(tokens, 2, '$ORIGIN', line);
        const o = tokens[1]!;
        if (!o.text.endsWith('.')) throw fail(line, '$ORIGIN must be an absolute name (ending in ".")');
        currentOrigin = absoluteName(o, currentOrigin, line);
      } else if (directive === '$TTL') {
        expectCount(tokens, 2, '$TTL', line);
        const t = ttlValue(tokens[1]!.text);
        if (t === undefined || t > MAX_TTL) throw fail(line, `bad $TTL ${JSON.stringify(tokens[1]!.text)}`);
        defaultTtl = t;
      } else {
        throw fail(line, `${first.text} is not supported (only $ORIGIN and $TTL)`);
      }
      continue;
    }
    let i = 0;
    let owner: string;
    if (entry.ownerOmitted) {
      if (lastOwner === undefined) throw fail(line, 'no owner name and no previous record to take it from');
      owner = lastOwner;
    } else {
      owner = absoluteName(tokens[0]!, currentOrigin, line);
      i = 1;
    }
    let ttl: number | undefined;
    let sawClass = false;
    for (let k = 0; k < 2 && i < tokens.length; k++) {
      const t = tokens[i]!;
      const asTtl = t.quoted ? undefined : ttlValue(t.text);
      if (ttl === undefined && asTtl !== undefined) {
        if (asTtl > MAX_TTL) throw fail(line, `TTL ${t.text} exceeds ${MAX_TTL}`);
        ttl = asTtl;
        i++;
      } else if (!sawClass && !t.quoted && /^(IN|CH|HS|CS|ANY|CLASS\d+)$/i.test(t.text)) {
        if (t.text.toUpperCase() !== 'IN') throw fail(line, `class ${t.text} is not supported (only IN)`);
        sawClass = true;
        i++;
      }
    }
    const typeToken = tokens[i];
    if (typeToken === undefined) throw fail(line, 'no record type');
    const type = typeToken.text.toUpperCase();
    const rdata = tokens.slice(i + 1);
    if (owner !== zone && !owner.endsWith(`.${zone}`)) throw fail(line, `${owner} is outside zone ${zone}`);
    const effectiveTtl = ttl ?? defaultTtl ?? lastTtl;
    lastOwner = owner;

    if (type === 'SOA') {
      if (owner !== zone) throw fail(line, `SOA must be at the zone apex ${zone}, not ${owner}`);
      if (soa !== undefined) throw fail(line, 'a second SOA record');
      expectCount(rdata, 7, 'SOA', line);
      const num = (k: number, what: string): number => {
        const v = rdata[k]!.quoted ? undefined : ttlValue(rdata[k]!.text);
        if (v === undefined || v > 0xffffffff)
          throw fail(line, `SOA ${what}: expected a number, got ${JSON.stringify(rdata[k]!.text)}`);
        return v;
      };
      const minimum = num(6, 'minimum');
      soa = {
        mname: configTarget(absoluteName(rdata[0]!, currentOrigin, line)),
        rname: configTarget(absoluteName(rdata[1]!, currentOrigin, line)),
        serial: num(2, 'serial'),
        // The store bumps the serial on every later change; the date scheme (the default) keeps
        // an imported YYYYMMDDnn serial in its form and moves any other one forward from it.
        serialScheme: 'date',
        refresh: num(3, 'refresh'),
        retry: num(4, 'retry'),
        expire: num(5, 'expire'),
        minimum,
        // Without any TTL in sight the SOA's own TTL is its MINIMUM (RFC 1035's old default).
        ttl: effectiveTtl ?? minimum,
      };
      lastTtl = soa.ttl;
      continue;
    }
    if (!RECORD_TYPES.has(type)) {
      throw fail(
        line,
        `record type ${typeToken.text} is not supported (A, AAAA, CNAME, MX, TXT, SRV, CAA, NS, SOA)`,
      );
    }
    if (effectiveTtl === undefined) throw fail(line, 'no TTL: give one, or a $TTL line, or an SOA before');
    lastTtl = effectiveTtl;
    if (type !== 'TXT' && type !== 'CAA' && rdata.some((t) => t.quoted)) {
      throw fail(line, `${type} data cannot be a quoted string`);
    }
    let value: string;
    switch (type as RecordType) {
      case 'A':
      case 'AAAA': {
        expectCount(rdata, 1, type, line);
        const want = type === 'A' ? 4 : 6;
        if (ipFamily(rdata[0]!.text) !== want)
          throw fail(line, `${type}: expected an IPv${want} address, got ${JSON.stringify(rdata[0]!.text)}`);
        value = rdata[0]!.text;
        break;
      }
      case 'CNAME':
      case 'NS':
      case 'PTR':
        expectCount(rdata, 1, type, line);
        value = configTarget(absoluteName(rdata[0]!, currentOrigin, line));
        break;
      case 'MX':
        expectCount(rdata, 2, 'MX', line);
        value = `${uint(rdata[0], 65535, 'an MX preference', line)} ${configTarget(absoluteName(rdata[1]!, currentOrigin, line))}`;
        break;
      case 'SRV':
        expectCount(rdata, 4, 'SRV', line);
        value = [
          uint(rdata[0], 65535, 'an SRV priority', line),
          uint(rdata[1], 65535, 'an SRV weight', line),
          uint(rdata[2], 65535, 'an SRV port', line),
          configTarget(absoluteName(rdata[3]!, currentOrigin, line)),
        ].join(' ');
        break;
      case 'CAA': {
        expectCount(rdata, 3, 'CAA', line);
        const tag = rdata[1]!.text;
        if (rdata[1]!.quoted || !/^[A-Za-z0-9]{1,15}$/.test(tag))
          throw fail(line, `CAA tag ${JSON.stringify(tag)} is not 1-15 letters and digits`);
        const caaValue = utf8(rdata[2]!.text, line);
        if (caaValue.includes('"')) throw fail(line, 'a CAA value containing a quote is not supported');
        value = `${uint(rdata[0], 255, 'CAA flags', line)} ${tag.toLowerCase()} "${caaValue}"`;
        break;
      }
      case 'TXT': {
        if (rdata.length === 0) throw fail(line, 'TXT without text');
        for (const t of rdata)
          if (Buffer.byteLength(t.text, 'latin1') > 255)
            throw fail(line, 'a TXT string is longer than 255 bytes');
        value = utf8(rdata.map((t) => t.text).join(''), line);
        if (value.length === 0) throw fail(line, 'an empty TXT record is not supported');
        if (value.length > 4000) throw fail(line, 'TXT text longer than 4000 characters');
        break;
      }
    }
    if (type === 'NS' && owner === zone) {
      ns.push(value);
      nsTtl ??= effectiveTtl;
      continue;
    }
    const key = `${owner}/${type}`;
    const group = groups.get(key);
    if (group === undefined)
      groups.set(key, { name: owner, type: type as RecordType, ttl: effectiveTtl, values: [value] });
    else if (!group.values.includes(value)) group.values.push(value);
  }
  if (soa === undefined) throw fail(1, `no SOA record for ${zone}`);
  if (ns.length === 0) throw fail(1, `no NS record at the apex of ${zone}`);
  const zoneTtl = nsTtl ?? defaultTtl ?? soa.ttl;
  const records: StaticRecordConfig[] = [];
  for (const g of groups.values()) {
    records.push({
      name: configName(g.name, zone),
      type: g.type,
      ...(g.ttl === zoneTtl ? {} : { ttl: g.ttl }),
      values: g.values,
    });
  }
  return { name: zone, ttl: zoneTtl, soa, ns, records };
}

/** Text whose \DDD escapes spelled bytes (latin1 chars) → the UTF-8 string they encode. */
function utf8(latin1: string, line: number): string {
  const bytes = Buffer.from(latin1, 'latin1');
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw fail(line, 'text is not valid UTF-8');
  return text;
}

/** A character-string in presentation form: quoted, with `"` and `\` escaped and non-printables as \DDD. */
function quoted(bytes: Buffer): string {
  let out = '"';
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b < 0x20 || b > 0x7e) out += `\\${String(b).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return `${out}"`;
}

/** Absolute name (no trailing dot) of a configured owner or target, as zones.ts reads them. */
function configAbsolute(name: string, zone: string): string {
  if (name === '@') return zone;
  const n = name.toLowerCase();
  if (n.endsWith('.')) return n.slice(0, -1);
  if (n === zone || n.endsWith(`.${zone}`)) return n;
  return `${n}.${zone}`;
}

function rdataText(type: RecordType, value: string, zone: string): string {
  const abs = (n: string): string => `${configAbsolute(n, zone)}.`;
  const fields = value.trim().split(/\s+/);
  switch (type) {
    case 'A':
    case 'AAAA':
      return value;
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return abs(value);
    case 'MX':
      return `${fields[0]} ${abs(fields[1]!)}`;
    case 'SRV':
      return `${fields[0]} ${fields[1]} ${fields[2]} ${abs(fields[3]!)}`;
    case 'CAA': {
      const m = /^(\d{1,3})\s+([A-Za-z0-9]+)\s+"?(.*?)"?$/.exec(value.trim());
      return m === null ? value : `${m[1]} ${m[2]} ${quoted(Buffer.from(m[3]!, 'utf8'))}`;
    }
    case 'TXT': {
      const bytes = Buffer.from(value, 'utf8');
      const strings: string[] = [];
      for (let i = 0; i < bytes.length; i += 255) strings.push(quoted(bytes.subarray(i, i + 255)));
      return strings.join(' ');
    }
  }
}

/**
 * The zone as a master file: absolute names throughout, the SOA first, apex NS, then the static
 * records in configuration order. Balanced names are listed as comments — their answers depend on
 * the client, so a file cannot hold them (a zone transfer carries the default location's answer).
 */
export function exportMasterFile(
  zone: Pick<ZoneConfig, 'name' | 'ttl' | 'soa' | 'ns' | 'records'> & {
    readonly balanced?: readonly { readonly name: string }[];
  },
): string {
  const name = zone.name.toLowerCase().replace(/\.$/, '');
  const apex = `${name}.`;
  const abs = (n: string): string => `${configAbsolute(n, name)}.`;
  const s = zone.soa;
  const lines = [
    `; zone ${name}, exported by Meridian`,
    `$ORIGIN ${apex}`,
    `$TTL ${zone.ttl}`,
    `${apex} ${s.ttl} IN SOA ${abs(s.mname)} ${abs(s.rname)} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`,
  ];
  for (const n of zone.ns) lines.push(`${apex} ${zone.ttl} IN NS ${abs(n)}`);
  for (const r of zone.records) {
    for (const v of r.values)
      lines.push(`${abs(r.name)} ${r.ttl ?? zone.ttl} IN ${r.type} ${rdataText(r.type, v, name)}`);
  }
  for (const b of zone.balanced ?? [])
    lines.push(`; balanced name ${abs(b.name)} (A/AAAA steered by Meridian)`);
  return `${lines.join('\n')}\n`;
}

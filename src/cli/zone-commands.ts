// `meridian zone|record|name`: DNS zones, their static records and balanced names through the admin
// API (src/api/zone-routes.ts); every DNS node serves a change within a second. Input is checked
// here with the same rules the server applies (record syntax, TTL range, CAA, MX targets) before
// anything is sent, and a 400 from the server (record outside the zone, CNAME beside other data,
// duplicate) is reported the same way: exit 2 naming the field, nothing changed.
//
//   meridian zone add example.com --ns ns1.example.com. --ns ns2.example.com. --rname hostmaster.example.com.
//   meridian zone list | show example.com [--json] | remove example.com
//   meridian zone import example.com example.com.zone [--replace]   (an RFC 1035 master file)
//   meridian zone export example.com [--out example.com.zone]
//   meridian record add example.com www A 192.0.2.10 192.0.2.11 --ttl 300
//   meridian record add example.com @ MX "10 mail.example.com."
//   meridian record list example.com [--name www] [--type A]
//   meridian record update example.com www A 192.0.2.12 --ttl 60     (replaces the RRset)
//   meridian record remove example.com www A [192.0.2.12]               (one value, or the RRset)
//   meridian name add example.com app --policy failover --region eu-west --region us-east --ttl 30
//   meridian name update example.com app --policy weighted --weight eu-west=3 --weight us-east=1
//   meridian name remove example.com app
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { STEERING_POLICIES, type ZoneConfig } from '../config/dns-schema.js';
import { exportMasterFile, parseMasterFile } from '../config/master-file.js';
import { isMeridianError } from '../core/errors.js';
import { parseBalancedInput, parseRecordInput } from '../storage/zone-store.js';
import { apiClientFor, refusalsAsUsage } from './client.js';
import { UsageError, parseIntFlag } from './flags.js';
import { formatTable, terminalJson } from './format.js';

export interface ZoneCommandDeps {
  readonly write?: (text: string) => void;
}

const enc = encodeURIComponent;

/** A refusal for bad input (HTTP 400) is a usage error: exit 2, like a bad flag. */
const call = <T>(run: () => Promise<T>): Promise<T> => refusalsAsUsage([400], run);

/** Runs a local check; its E_VALIDATION becomes a usage error naming `what` and the field. */
function check<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (isMeridianError(err) && err.code === 'E_VALIDATION') throw new UsageError(`${what}: ${err.message}`);
    throw err;
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface ZoneFlags {
  ns?: string[];
  mname?: string;
  rname?: string;
  ttl?: string;
  serialScheme?: string;
  json?: boolean;
}

interface NameFlags {
  policy?: string;
  region?: string[];
  weight?: string[];
  ttl?: string;
  answerRegions?: string;
  addressesPerRegion?: string;
  allDown?: string;
  overrideCountry?: string[];
  overrideContinent?: string[];
  overrideCidr?: string[];
}

/** `KEY=a,b` pairs → { KEY: [a, b] }. */
function overrideMap(pairs: readonly string[], flag: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const pair of pairs) {
    const at = pair.lastIndexOf('=');
    if (at <= 0)
      throw new UsageError(`${flag}: expected KEY=region[,region...], got ${JSON.stringify(pair)}`);
    out[pair.slice(0, at)] = pair
      .slice(at + 1)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  return out;
}

/** The balanced-name fields the flags set (only those given, so `update` merges). */
export function nameBody(flags: NameFlags): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (flags.policy !== undefined) body.policy = flags.policy;
  if (flags.region !== undefined) body.regions = flags.region;
  if (flags.weight !== undefined) {
    const weights: Record<string, number> = {};
    for (const pair of flags.weight) {
      const m = /^([^=]+)=(.+)$/.exec(pair);
      if (m === null) throw new UsageError(`--weight: expected REGION=WEIGHT, got ${JSON.stringify(pair)}`);
      weights[m[1]!] = parseIntFlag(m[2]!, '--weight');
    }
    body.weights = weights;
  }
  if (flags.ttl !== undefined) body.ttl = parseIntFlag(flags.ttl, '--ttl');
  if (flags.answerRegions !== undefined)
    body.answerRegions = parseIntFlag(flags.answerRegions, '--answer-regions');
  if (flags.addressesPerRegion !== undefined)
    body.addressesPerRegion = parseIntFlag(flags.addressesPerRegion, '--addresses-per-region');
  if (flags.allDown !== undefined) body.allDown = flags.allDown;
  if (
    flags.overrideCountry !== undefined ||
    flags.overrideContinent !== undefined ||
    flags.overrideCidr !== undefined
  ) {
    body.overrides = {
      country: overrideMap(flags.overrideCountry ?? [], '--override-country'),
      continent: overrideMap(flags.overrideContinent ?? [], '--override-continent'),
      cidr: overrideMap(flags.overrideCidr ?? [], '--override-cidr'),
    };
  }
  return body;
}

function addNameFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--policy <policy>', 'how regions are picked').choices([...STEERING_POLICIES]))
    .option('--region <id>', 'an eligible region; repeat, in failover order (empty: every region)', collect)
    .option('--weight <region=n>', 'weighted: a region weight; repeat', collect)
    .option('--ttl <seconds>', 'answer TTL (default 30)')
    .option('--answer-regions <n>', 'regions named per answer (default 1)')
    .option('--addresses-per-region <n>', 'addresses per chosen region, 0 = all (default 0)')
    .addOption(
      new Option('--all-down <mode>', 'every eligible region down').choices(['fail-open', 'fail-closed']),
    )
    .option(
      '--override-country <CC=regions>',
      'clients in this country go to these regions (a,b); repeat',
      collect,
    )
    .option(
      '--override-continent <EU=regions>',
      'clients on this continent go to these regions; repeat',
      collect,
    )
    .option('--override-cidr <CIDR=regions>', 'clients in this network go to these regions; repeat', collect);
}

function recordBody(values: readonly string[], ttl: string | undefined): { values: string[]; ttl?: number } {
  return { values: [...values], ...(ttl === undefined ? {} : { ttl: parseIntFlag(ttl, '--ttl') }) };
}

export function formatZone(zone: ZoneConfig): string {
  const lines = [
    `zone ${zone.name}  serial ${zone.soa.serial} (${zone.soa.serialScheme})  ttl ${zone.ttl}`,
    `soa  ${zone.soa.mname} ${zone.soa.rname} refresh ${zone.soa.refresh} retry ${zone.soa.retry} expire ${zone.soa.expire} minimum ${zone.soa.minimum}`,
    `ns   ${zone.ns.join(' ')}`,
    ...(zone.dnssec === undefined
      ? []
      : [`dnssec signed, ${zone.dnssec.keys.length} keys (meridian dnssec status ${zone.name})`]),
    '',
  ];
  const rows = zone.records.flatMap((r) =>
    r.values.map((v) => [r.name, r.type, String(r.ttl ?? zone.ttl), v]),
  );
  let out = lines.join('\n') + formatTable(['NAME', 'TYPE', 'TTL', 'VALUE'], rows);
  if (zone.balanced.length > 0) {
    out +=
      '\n' +
      formatTable(
        ['BALANCED', 'POLICY', 'REGIONS', 'TTL', 'ALL DOWN'],
        zone.balanced.map((b) => [
          b.name,
          b.policy,
          b.regions.join(',') || '(all)',
          String(b.ttl),
          b.allDown,
        ]),
      );
  }
  return out;
}

export function registerZoneCommands(program: Command, deps: ZoneCommandDeps = {}): void {
  const write = deps.write ?? ((text: string) => process.stdout.write(text));
  const show = (zone: ZoneConfig, json: boolean | undefined): void =>
    write(json === true ? terminalJson(zone) + '\n' : formatZone(zone));

  const zone = program.command('zone').description('manage DNS zones (served by every DNS node)');
  zone
    .command('add')
    .argument('<zone>', 'zone name, e.g. example.com')
    .description('create a zone with its SOA and apex name servers')
    .requiredOption('--ns <name>', 'an apex name server (absolute names end in a dot); repeat', collect)
    .option('--mname <name>', 'SOA primary name server (default: the first --ns)')
    .option('--rname <mailbox>', 'SOA mailbox in DNS form (default: hostmaster.<zone>.)')
    .option('--ttl <seconds>', 'default TTL of records without one (default 3600)')
    .addOption(
      new Option('--serial-scheme <scheme>', 'how the serial moves on each change (default date)').choices([
        'date',
        'counter',
      ]),
    )
    .option('--json', 'print JSON')
    .action(async (name: string, flags: ZoneFlags, cmd: Command) => {
      const ns = flags.ns ?? [];
      const body = {
        name,
        ns,
        soa: {
          mname: flags.mname ?? ns[0] ?? '',
          rname: flags.rname ?? `hostmaster.${name.replace(/\.$/, '')}.`,
          ...(flags.serialScheme === undefined ? {} : { serialScheme: flags.serialScheme }),
        },
        ...(flags.ttl === undefined ? {} : { ttl: parseIntFlag(flags.ttl, '--ttl') }),
      };
      show(await call(() => apiClientFor(cmd).post<ZoneConfig>('/v1/zones', body)), flags.json);
    });
  zone
    .command('list')
    .description('list the zones with their serials')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const { zones } = await apiClientFor(cmd).get<{
        zones: { name: string; serial: number; records: number; balanced: number }[];
      }>('/v1/zones');
      if (flags.json === true) write(terminalJson(zones) + '\n');
      else
        write(
          formatTable(
            ['ZONE', 'SERIAL', 'RRSETS', 'BALANCED'],
            zones.map((z) => [z.name, String(z.serial), String(z.records), String(z.balanced)]),
            ['left', 'right', 'right', 'right'],
          ),
        );
    });
  zone
    .command('show')
    .argument('<zone>')
    .description('a zone with its records and balanced names')
    .option('--json', 'print JSON (the stored zone)')
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      show(await apiClientFor(cmd).get<ZoneConfig>(`/v1/zones/${enc(name)}`), flags.json);
    });
  zone
    .command('remove')
    .argument('<zone>')
    .description('delete a zone and everything in it (DNS nodes stop answering for it)')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await apiClientFor(cmd).delete(`/v1/zones/${enc(name)}`);
      write(`removed zone ${name}\n`);
    });

  zone
    .command('import')
    .argument('<zone>', 'zone name, e.g. example.com')
    .argument(
      '<file>',
      'a master file (RFC 1035: $ORIGIN, $TTL, SOA, NS, A, AAAA, CNAME, MX, TXT, SRV, CAA, PTR)',
    )
    .description(
      "create a zone from a master file; with --replace, an existing zone takes the file's SOA fields, " +
        'name servers and static records in one change (balanced names and transfer settings stay)',
    )
    .option('--replace', 'replace the static records of an existing zone (default: refuse if it exists)')
    .option('--json', 'print JSON')
    .action(
      async (name: string, file: string, flags: { replace?: boolean; json?: boolean }, cmd: Command) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (err) {
          throw new UsageError(
            `<file>: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
          );
        }
        const parsed = check(file, () => parseMasterFile(text, name));
        const api = apiClientFor(cmd);
        if (flags.replace !== true) {
          show(await call(() => api.post<ZoneConfig>('/v1/zones', parsed)), flags.json);
          return;
        }
        // The store moves the serial forward itself (never backwards) by the zone's own scheme, so the
        // file's serial is not sent.
        const { serial: _serial, serialScheme: _scheme, ...soa } = parsed.soa;
        const body = { ttl: parsed.ttl, soa, ns: parsed.ns, records: parsed.records };
        show(await call(() => api.patch<ZoneConfig>(`/v1/zones/${enc(name)}`, body)), flags.json);
      },
    );
  zone
    .command('export')
    .argument('<zone>')
    .description(
      'print the zone as a master file (balanced names appear as comments: their answers depend on the apiClientFor)',
    )
    .option('--out <file>', 'write it to this file instead of standard output')
    .action(async (name: string, flags: { out?: string }, cmd: Command) => {
      const text = exportMasterFile(await apiClientFor(cmd).get<ZoneConfig>(`/v1/zones/${enc(name)}`));
      if (flags.out === undefined) {
        process.stdout.write(text);
        return;
      }
      writeFileSync(flags.out, text);
      write(`wrote zone ${name} to ${flags.out}\n`);
    });

  const record = program.command('record').description('manage static records of a zone');
  record
    .command('add')
    .arguments('<zone> <name> <type> <values...>')
    .description('add values to the record set NAME TYPE (created if new); NAME "@" is the apex')
    .option('--ttl <seconds>', 'TTL of the record set')
    .option('--json', 'print the zone as JSON')
    .action(
      async (
        zoneName: string,
        name: string,
        type: string,
        values: string[],
        flags: { ttl?: string; json?: boolean },
        cmd: Command,
      ) => {
        const body = { name, type: type.toUpperCase(), ...recordBody(values, flags.ttl) };
        check('record', () => parseRecordInput(body));
        show(
          await call(() => apiClientFor(cmd).post<ZoneConfig>(`/v1/zones/${enc(zoneName)}/records`, body)),
          flags.json,
        );
      },
    );
  record
    .command('list')
    .argument('<zone>')
    .option('--name <name>', 'only this owner name')
    .option('--type <type>', 'only this type')
    .option('--json', 'print JSON')
    .description('the record sets of a zone')
    .action(
      async (zoneName: string, flags: { name?: string; type?: string; json?: boolean }, cmd: Command) => {
        const query = new URLSearchParams();
        if (flags.name !== undefined) query.set('name', flags.name);
        if (flags.type !== undefined) query.set('type', flags.type);
        const qs = query.size === 0 ? '' : `?${query.toString()}`;
        const { records } = await apiClientFor(cmd).get<{
          records: { name: string; type: string; ttl: number; values: string[] }[];
        }>(`/v1/zones/${enc(zoneName)}/records${qs}`);
        if (flags.json === true) write(terminalJson(records) + '\n');
        else
          write(
            formatTable(
              ['NAME', 'TYPE', 'TTL', 'VALUE'],
              records.flatMap((r) => r.values.map((v) => [r.name, r.type, String(r.ttl), v])),
            ),
          );
      },
    );
  record
    .command('update')
    .arguments('<zone> <name> <type> <values...>')
    .description('replace the record set NAME TYPE with these values (and --ttl)')
    .option('--ttl <seconds>', 'TTL of the record set (default: unchanged)')
    .option('--json', 'print the zone as JSON')
    .action(
      async (
        zoneName: string,
        name: string,
        type: string,
        values: string[],
        flags: { ttl?: string; json?: boolean },
        cmd: Command,
      ) => {
        const body = recordBody(values, flags.ttl);
        check('record', () => parseRecordInput({ name, type: type.toUpperCase(), ...body }));
        const path = `/v1/zones/${enc(zoneName)}/records/${enc(name)}/${enc(type.toUpperCase())}`;
        show(await call(() => apiClientFor(cmd).request<ZoneConfig>('PUT', path, body)), flags.json);
      },
    );
  record
    .command('remove')
    .arguments('<zone> <name> <type> [value]')
    .description('remove one value of the record set NAME TYPE, or the whole set without VALUE')
    .action(
      async (
        zoneName: string,
        name: string,
        type: string,
        value: string | undefined,
        _flags: unknown,
        cmd: Command,
      ) => {
        const qs = value === undefined ? '' : `?value=${enc(value)}`;
        await call(() =>
          apiClientFor(cmd).delete(
            `/v1/zones/${enc(zoneName)}/records/${enc(name)}/${enc(type.toUpperCase())}${qs}`,
          ),
        );
        write(
          `removed ${name} ${type.toUpperCase()}${value === undefined ? '' : ` ${value}`} from ${zoneName}\n`,
        );
      },
    );

  const names = program.command('name').description('manage balanced names (A/AAAA answered by steering)');
  addNameFlags(names.command('add').arguments('<zone> <name>'))
    .description('add a balanced name (default policy nearest)')
    .option('--json', 'print the zone as JSON')
    .action(async (zoneName: string, name: string, flags: NameFlags & { json?: boolean }, cmd: Command) => {
      const body = { name, ...nameBody(flags) };
      check('name', () => parseBalancedInput(body));
      show(
        await call(() => apiClientFor(cmd).post<ZoneConfig>(`/v1/zones/${enc(zoneName)}/names`, body)),
        flags.json,
      );
    });
  addNameFlags(names.command('update').arguments('<zone> <name>'))
    .description('change a balanced name (only the flags given)')
    .option('--json', 'print the zone as JSON')
    .action(async (zoneName: string, name: string, flags: NameFlags & { json?: boolean }, cmd: Command) => {
      const body = nameBody(flags);
      if (Object.keys(body).length === 0)
        throw new UsageError('name update: give at least one flag to change');
      show(
        await call(() =>
          apiClientFor(cmd).patch<ZoneConfig>(`/v1/zones/${enc(zoneName)}/names/${enc(name)}`, body),
        ),
        flags.json,
      );
    });
  names
    .command('remove')
    .arguments('<zone> <name>')
    .description('remove a balanced name')
    .action(async (zoneName: string, name: string, _flags: unknown, cmd: Command) => {
      await call(() => apiClientFor(cmd).delete(`/v1/zones/${enc(zoneName)}/names/${enc(name)}`));
      write(`removed balanced name ${name} from ${zoneName}\n`);
    });
}

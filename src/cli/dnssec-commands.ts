// `meridian dnssec`: a zone's DNSSEC keys through the admin API (src/api/dnssec-routes.ts). The node
// makes the keys and keeps their private halves sealed in the zone store; nothing private reaches
// this command. A refusal (bad input, already signed, a rollover under way, no key ring on the node,
// the DS removal not confirmed) exits 2 with nothing changed.
//
//   meridian dnssec enable example.com [--algorithm 13|15]
//   meridian dnssec status example.com [--json]
//   meridian dnssec ds example.com [--dnskey] [--json]       (the DS record(s) for the parent)
//   meridian dnssec rollover example.com [--json]            (pre-publish ZSK rollover, prints the timeline)
//   meridian dnssec disable example.com --ds-removed         (after the DS is gone from the parent)
import type { Command } from 'commander';
import { Option } from 'commander';
import { INSECURE_STEPS, type DnssecStatus } from '../api/dnssec-routes.js';
import { apiClientFor, refusalsAsUsage } from './client.js';
import { UsageError } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

export interface DnssecCommandDeps {
  readonly write?: (text: string) => void;
}

const enc = encodeURIComponent;

/** A refusal (400 bad input or missing confirmation, 409 the zone's state) exits 2 like a bad flag. */
const call = <T>(run: () => Promise<T>): Promise<T> => refusalsAsUsage([400, 409], run);

type SignedStatus = Extract<DnssecStatus, { signed: true }>;

interface DsAnswer {
  zone: string;
  ds: string[];
  dnskey: string[];
  dsSafeAt: string;
}

interface RolloverAnswer {
  rollover: {
    oldKey: number;
    newKey: number;
    newKeyPublishedAt: string;
    newKeySignsFrom: string;
    oldKeyRetiresAt: string;
    oldKeyRemovedAt: string;
    maxSignedTtl: number;
    dnskeyTtl: number;
    propagationSeconds: number;
  };
  status: SignedStatus;
}

export function formatDnssecStatus(status: DnssecStatus): string {
  if (!status.signed) return `zone ${status.zone} is not signed (meridian dnssec enable ${status.zone})\n`;
  const s = status.settings;
  const head = [
    `zone ${status.zone}  signed  DNSKEY ttl ${s.dnskeyTtl}  signatures ${s.signatureValidityDays} d (refreshed at ${s.refreshDays} d left)  propagation ${s.propagationSeconds} s`,
    `signing now: KSK ${status.signing.ksk ?? '-'}, ZSK ${status.signing.zsk ?? '-'}   largest signed TTL ${status.maxSignedTtl} s`,
    `DS to the parent from: ${status.dsSafeAt}`,
    '',
  ].join('\n');
  const keys = formatTable(
    ['ROLE', 'TAG', 'ALG', 'PHASE', 'PUBLISHED', 'SIGNS FROM', 'RETIRES', 'REMOVED'],
    status.keys.map((k) => [
      k.role.toUpperCase(),
      String(k.tag),
      String(k.algorithm),
      k.phase,
      k.publishAt,
      k.activeAt,
      k.retireAt ?? '-',
      k.removeAt ?? '-',
    ]),
    ['left', 'right', 'right'],
  );
  const events =
    status.events.length === 0
      ? 'no key change under way\n'
      : 'next:\n' +
        status.events
          .map((e) => `  ${e.at}  ${e.role.toUpperCase()} ${e.tag} ${eventText(e.event)}\n`)
          .join('');
  return `${head}\n${keys}\n${events}`;
}

function eventText(event: string): string {
  switch (event) {
    case 'publish':
      return 'enters the DNSKEY RRset';
    case 'activate':
      return 'starts signing';
    case 'retire':
      return 'stops signing';
    default:
      return 'leaves the DNSKEY RRset';
  }
}

function formatDs(answer: DsAnswer, withDnskey: boolean): string {
  return [...answer.ds, ...(withDnskey ? answer.dnskey : [])].map((line) => `${line}\n`).join('');
}

export function formatRollover(answer: RolloverAnswer): string {
  const r = answer.rollover;
  return [
    `ZSK rollover started: new ZSK ${r.newKey} replaces ZSK ${r.oldKey} (pre-publish)`,
    `  ${r.newKeyPublishedAt}  ZSK ${r.newKey} enters the DNSKEY RRset`,
    `  ${r.newKeySignsFrom}  ZSK ${r.newKey} starts signing and ZSK ${r.oldKey} stops (after DNSKEY ttl ${r.dnskeyTtl} s + propagation ${r.propagationSeconds} s: every cache knows the new key)`,
    `  ${r.oldKeyRemovedAt}  ZSK ${r.oldKey} leaves the DNSKEY RRset (after the largest signed TTL ${r.maxSignedTtl} s + propagation: no cache holds its signatures)`,
    'the KSK and the DS at the parent do not change; another rollover can start after the last step',
    '',
  ].join('\n');
}

export function registerDnssecCommands(program: Command, deps: DnssecCommandDeps = {}): void {
  const write = deps.write ?? ((text: string) => void process.stdout.write(terminalSafe(text)));
  const base = (zone: string): string => `/v1/zones/${enc(zone)}/dnssec`;

  const dnssec = program
    .command('dnssec')
    .description('sign a zone with DNSSEC: its keys, the DS for the parent, ZSK rollovers, going insecure')
    .addHelpText(
      'after',
      '\nRefusals (already signed, a rollover under way, no encryption key on the node, DS removal not\n' +
        'confirmed) exit 2 and change nothing. The node needs an encryption key (secrets.keyFile or\n' +
        'MERIDIAN_KEYS): private keys are stored only sealed.\n',
    );

  dnssec
    .command('enable')
    .argument('<zone>')
    .description(
      'start signing a zone: a KSK and a ZSK are made on the node and sign at once; the zone is secure ' +
        'once the parent holds its DS (`meridian dnssec ds`), to be added after the time it prints',
    )
    .addOption(
      new Option('--algorithm <n>', '13 = ECDSA P-256/SHA-256, 15 = Ed25519')
        .choices(['13', '15'])
        .default('13'),
    )
    .option('--json', 'print JSON')
    .action(async (zone: string, flags: { algorithm: string; json?: boolean }, cmd: Command) => {
      const status = await call(() =>
        apiClientFor(cmd).post<SignedStatus>(base(zone), { algorithm: Number(flags.algorithm) }),
      );
      if (flags.json === true) {
        write(`${terminalJson(status)}\n`);
        return;
      }
      const ds = status.keys.flatMap((k) => (k.ds === undefined ? [] : [k.ds]));
      write(
        `zone ${status.zone} is signed (KSK ${status.signing.ksk}, ZSK ${status.signing.zsk}); ` +
          'it stays insecure until the parent holds this DS record:\n' +
          ds.map((line) => `  ${line}\n`).join('') +
          `give it to the parent (registrar) after ${status.dsSafeAt}, once every cache holds the signed zone\n`,
      );
    });

  dnssec
    .command('status')
    .argument('<zone>')
    .description("the zone's keys, each one's phase and timeline, and the next key events")
    .option('--json', 'print JSON')
    .action(async (zone: string, flags: { json?: boolean }, cmd: Command) => {
      const status = await call(() => apiClientFor(cmd).get<DnssecStatus>(base(zone)));
      write(flags.json === true ? `${terminalJson(status)}\n` : formatDnssecStatus(status));
    });

  dnssec
    .command('ds')
    .argument('<zone>')
    .description("print the DS record(s) of the zone's KSK for the parent zone (SHA-256), one per line")
    .option('--dnskey', 'also print the KSK DNSKEY record(s), e.g. for a trust anchor')
    .option('--json', 'print JSON')
    .action(async (zone: string, flags: { dnskey?: boolean; json?: boolean }, cmd: Command) => {
      const answer = await call(() => apiClientFor(cmd).get<DsAnswer>(`${base(zone)}/ds`));
      write(flags.json === true ? `${terminalJson(answer)}\n` : formatDs(answer, flags.dnskey === true));
    });

  dnssec
    .command('rollover')
    .argument('<zone>')
    .description(
      'replace the ZSK (pre-publish): the new key is published now and signs once every cached DNSKEY ' +
        'RRset holds it (DNSKEY TTL + propagation); the old key stops then and is removed once no cache ' +
        'holds its signatures (largest signed TTL + propagation). Refused while a previous rollover runs',
    )
    .option('--ksk', 'roll the KSK instead: not supported yet (it needs a DS change at the parent), refused')
    .option('--json', 'print JSON')
    .action(async (zone: string, flags: { ksk?: boolean; json?: boolean }, cmd: Command) => {
      const answer = await call(() =>
        apiClientFor(cmd).post<RolloverAnswer>(
          `${base(zone)}/rollover`,
          flags.ksk === true ? { ksk: true } : {},
        ),
      );
      write(flags.json === true ? `${terminalJson(answer)}\n` : formatRollover(answer));
    });

  dnssec
    .command('disable')
    .argument('<zone>')
    .description(
      'stop signing the zone (go insecure) once its DS is gone from the parent; without --ds-removed ' +
        'it prints the steps below and exits 2',
    )
    .addHelpText(
      'after',
      '\nGoing insecure safely, in this order:\n' + INSECURE_STEPS.map((step) => `  ${step}\n`).join(''),
    )
    .option('--ds-removed', "confirm the DS is gone from the parent and the parent's DS TTL has passed")
    .action(async (zone: string, flags: { dsRemoved?: boolean }, cmd: Command) => {
      if (flags.dsRemoved !== true)
        throw new UsageError(
          `not disabling DNSSEC for ${zone}: going insecure safely takes these steps, in order:\n` +
            INSECURE_STEPS.map((step) => `  ${step.replaceAll('ZONE', zone)}\n`).join('') +
            'rerun with --ds-removed once steps 1 and 2 are done',
        );
      await call(() => apiClientFor(cmd).request<unknown>('DELETE', base(zone), { dsRemoved: true }));
      write(`zone ${zone} is no longer signed (its DNSSEC keys are deleted)\n`);
    });
}

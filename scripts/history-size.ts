// How big the traffic history of 20 regions is, measured on real encoded records: writes one hour
// of busy rollups (every region answering 15 client countries, 3 backends each with requests,
// errors and all 15 latency buckets, WAF and rate-limit hits: every counter non-zero) through the
// real stores, then measures
//   Redis:  MEMORY USAGE of the minute keys and of the hour keys (+ their indexes), INFO used_memory;
//   memory: the bytes of the JSON Lines file (one flush per minute, as a node writes it).
// and scales to the defaults: minutes for 48 hours, hours for 30 days (and, for comparison, what
// 30 days of minutes would take). Health events are tiny next to this (one ~150-byte entry per
// state change). Run: npx tsx scripts/history-size.ts   (needs redis-server; about 2 s)
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MemoryHistoryStore } from '../src/storage/memory/history-store.js';
import { RedisHistoryStore, historyKeys } from '../src/storage/redis/history-store.js';
import type { TrafficRollup } from '../src/storage/history-store.js';
import {
  DNS,
  RATE_LIMITED,
  WAF_BLOCKS,
  dnsPlaceCounter,
  errorsCounter,
  latencyCounter,
  requestsCounter,
} from '../src/ops/history/counters.js';
import { startRedis } from '../test/helpers/redis-server.js';

const REGIONS = 20;
const MINUTES = 60;
const MINUTE_HOURS = 48;
const DAYS = 30;
const COUNTRIES = [
  'DE:EU',
  'FR:EU',
  'GB:EU',
  'NL:EU',
  'PL:EU',
  'US:NA',
  'CA:NA',
  'MX:NA',
  'BR:SA',
  'AR:SA',
  'JP:AS',
  'IN:AS',
  'SG:AS',
  'AU:OC',
  'ZA:AF',
];
const LE = [
  '0.001',
  '0.0025',
  '0.005',
  '0.01',
  '0.025',
  '0.05',
  '0.1',
  '0.25',
  '0.5',
  '1',
  '2.5',
  '5',
  '10',
  '30',
  '+Inf',
];
const regionIds = Array.from({ length: REGIONS }, (_, i) => `region-${String(i + 1).padStart(2, '0')}`);

function rollup(minute: number, region: string): TrafficRollup {
  const counters: Record<string, number> = { [DNS]: 48_000, [WAF_BLOCKS]: 12, [RATE_LIMITED]: 40 };
  for (const c of COUNTRIES) {
    const [country = 'XX', continent = 'XX'] = c.split(':');
    counters[dnsPlaceCounter(country, continent)] = 3200;
  }
  for (const b of ['web-1', 'web-2', 'web-3']) {
    counters[requestsCounter(b)] = 30_000;
    counters[errorsCounter(b)] = 17;
    LE.forEach((le, i) => (counters[latencyCounter(b, le)] = 1000 + i * 2000));
  }
  return { minute, region, counters };
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const start = Math.floor(Date.now() / 60_000) * 60_000 - MINUTES * 60_000;
const fields = Object.keys(rollup(0, 'x').counters).length;

const redis = await startRedis();
const client = new Redis(redis.url);
try {
  const before = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
  const store = new RedisHistoryStore({ client, keyPrefix: 'size:' });
  await store.start();
  for (let m = 0; m < MINUTES; m++)
    await store.addTraffic(regionIds.map((r) => rollup(start + m * 60_000, r)));
  const keys = historyKeys('size:');
  let minuteBytes = Number(await client.call('MEMORY', 'USAGE', keys.index('minute')));
  let hourBytes = Number(await client.call('MEMORY', 'USAGE', keys.index('hour')));
  let encoding = '';
  for (let m = 0; m < MINUTES; m++) {
    for (const r of regionIds) {
      const key = keys.rollup(start + m * 60_000, r);
      minuteBytes += Number(await client.call('MEMORY', 'USAGE', key));
      encoding ||= String(await client.call('OBJECT', 'ENCODING', key));
    }
  }
  const hourMembers = await client.zrange(keys.index('hour'), '0', '-1');
  for (const member of hourMembers) {
    const colon = member.indexOf(':');
    const key = keys.rollup(Number(member.slice(0, colon)), member.slice(colon + 1), 'hour');
    hourBytes += Number(await client.call('MEMORY', 'USAGE', key));
  }
  // The hour written may straddle two clock hours: cost per region-hour over the keys there are.
  const perRegionHour = hourBytes / hourMembers.length;
  const after = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
  const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?';

  const dir = mkdtempSync(join(tmpdir(), 'meridian-history-size-'));
  const file = join(dir, 'state.history.jsonl');
  const memory = new MemoryHistoryStore({ file });
  await memory.start();
  for (let m = 0; m < MINUTES; m++)
    await memory.addTraffic(regionIds.map((r) => rollup(start + m * 60_000, r)));
  await memory.close();
  const fileBytes = statSync(file).size;
  rmSync(dir, { recursive: true, force: true });

  const defaults = minuteBytes * MINUTE_HOURS + perRegionHour * REGIONS * DAYS * 24;
  const lines = [
    `${REGIONS} regions, ${fields} counters per region-minute (Redis ${version}, ${encoding} hashes)`,
    `Redis minute keys: ${mb(minuteBytes)} per hour (${Math.round(minuteBytes / (REGIONS * MINUTES))} B per region-minute)`,
    `Redis hour keys: ${Math.round(perRegionHour)} B per region-hour`,
    `Redis, defaults (minutes ${MINUTE_HOURS} h + hours ${DAYS} d): ${mb(defaults)}`,
    `Redis, if minutes were kept ${DAYS} d: ${mb(minuteBytes * DAYS * 24)}`,
    `Redis used_memory growth for the hour written (minutes + hours): ${mb(after - before)}`,
    `memory backend file: ${mb(fileBytes)} per hour of minutes → ${mb(fileBytes * MINUTE_HOURS)} for ${MINUTE_HOURS} h, then compacted to one line per region-hour`,
  ];
  console.log(lines.join('\n'));
} finally {
  client.disconnect();
  await redis.stop();
}

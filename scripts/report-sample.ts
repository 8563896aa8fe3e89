// Writes a sample operations report from synthetic history (4 regions, 6 hours, one regional
// outage, a backend ejection, alerts and audit records) to HTML and renders it to PNG and PDF with
// Debian's chromium: for looking at the layout and charts without a running fleet. In memory only.
// Run: npx tsx scripts/report-sample.ts [out-dir]   (default /tmp/meridian-report-sample)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Region } from '../src/core/types.js';
import {
  DNS,
  WAF_BLOCKS,
  RATE_LIMITED,
  dnsPlaceCounter,
  errorsCounter,
  latencyCounter,
  requestsCounter,
} from '../src/ops/history/counters.js';
import { startHistory } from '../src/ops/history/service.js';
import { gatherReport } from '../src/ops/report/data.js';
import { renderReportHtml } from '../src/ops/report/html.js';
import { CHROMIUM_ARGS, renderPdf } from '../src/ops/report/pdf.js';
import { silentLogger } from '../src/infra/logger.js';
import { MemoryHistoryStore } from '../src/storage/memory/history-store.js';
import { MemoryOpsRecordStore } from '../src/storage/memory/ops-record-store.js';
import { snapshotFromLists } from '../src/storage/snapshot-codec.js';

const out = process.argv[2] ?? '/tmp/meridian-report-sample';
mkdirSync(out, { recursive: true });
const to = Math.floor(Date.now() / 60_000) * 60_000;
const from = to - 6 * 3_600_000;
const REGIONS: [string, number, number, string[], number][] = [
  ['eu-west', 50.1, 8.7, ['DE:EU', 'FR:EU', 'GB:EU', 'NL:EU'], 1.0],
  ['us-east', 39.0, -77.5, ['US:NA', 'CA:NA', 'BR:SA'], 0.8],
  ['ap-south', 19.1, 72.9, ['IN:AS', 'SG:AS', 'AU:OC'], 0.45],
  ['af-south', -33.9, 18.4, ['ZA:AF', 'NG:AF'], 0.12],
];
const LE = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '+Inf'];

const store = new MemoryHistoryStore();
const records = new MemoryOpsRecordStore();
await records.start();
const outageStart = from + 3.5 * 3_600_000;
const outageEnd = outageStart + 25 * 60_000;
for (let t = from; t <= to; t += 60_000) {
  const diurnal = 0.6 + 0.4 * Math.sin(((t - from) / (6 * 3_600_000)) * Math.PI);
  await store.addTraffic(
    REGIONS.map(([region, , , places, share]) => {
      const down = region === 'ap-south' && t >= outageStart && t < outageEnd;
      const dns = down ? 0 : Math.round(4000 * share * diurnal * (0.9 + Math.random() * 0.2));
      const counters: Record<string, number> = {
        [DNS]: dns,
        [WAF_BLOCKS]: Math.round(Math.random() * 3),
        [RATE_LIMITED]: Math.round(Math.random() * 6),
      };
      for (const p of places) {
        const [country = 'XX', continent = 'XX'] = p.split(':');
        counters[dnsPlaceCounter(country, continent)] = Math.round(dns / places.length);
      }
      for (const b of ['web-1', 'web-2']) {
        const req = down ? 0 : Math.round(dns * 6);
        counters[requestsCounter(b)] = req;
        counters[errorsCounter(b)] = Math.round(req * 0.002);
        LE.forEach((le, i) => (counters[latencyCounter(b, le)] = Math.round(req * Math.min(1, (i + 1) / 6))));
      }
      return { minute: t, region, counters };
    }),
  );
}
await store.addHealthEvent({
  t: outageStart,
  region: 'ap-south',
  backend: null,
  healthy: false,
  reason: '0/2 backends healthy, 2 fresh report(s)',
  source: 'verdict',
});
await store.addHealthEvent({
  t: outageEnd,
  region: 'ap-south',
  backend: null,
  healthy: true,
  reason: '2/2 backends healthy, 2 fresh report(s)',
  source: 'verdict',
});
await store.addHealthEvent({
  t: from + 60 * 60_000,
  region: 'us-east',
  backend: 'web-2',
  healthy: false,
  reason: '1/1 reporters see it unhealthy: active check failed 3x: connect ECONNREFUSED',
  source: 'proxy',
});
await store.addHealthEvent({
  t: from + 72 * 60_000,
  region: 'us-east',
  backend: 'web-2',
  healthy: true,
  reason: 'healthy again (1/1 reporters)',
  source: 'proxy',
});
await records.append(
  'alert',
  {
    type: 'region_health',
    level: 'critical',
    subject: 'region/ap-south',
    message: 'region ap-south is down (0/2 backends healthy, 2 fresh report(s))',
  },
  { time: outageStart },
);
await records.append(
  'alert',
  {
    type: 'region_health',
    level: 'info',
    subject: 'region/ap-south',
    message: 'region ap-south is up again',
  },
  { time: outageEnd },
);
await records.append(
  'alert',
  {
    type: 'backend_health',
    level: 'warning',
    subject: 'backend/us-east/web-2',
    message: 'backend web-2 in region us-east is unhealthy',
  },
  { time: from + 60 * 60_000 },
);
await records.append(
  'audit',
  { actor: 'user:alice/token:cli', action: 'region.drain', target: 'region/ap-south' },
  { time: outageStart + 2 * 60_000 },
);
await records.append(
  'audit',
  { actor: 'user:alice/token:cli', action: 'region.undrain', target: 'region/ap-south' },
  { time: outageEnd + 5 * 60_000 },
);

const now = new Date().toISOString();
const regions: Region[] = REGIONS.map(([id, lat, lon], i) => ({
  id,
  name: id,
  lat,
  lon,
  ipv4: [`192.0.2.${10 + i}`],
  ipv6: [],
  weight: 100,
  state: 'active',
  labels: {},
  requireHealth: false,
  createdAt: now,
  updatedAt: now,
  ...(i < 3 ? { capacity: 500 * (3 - i) } : {}),
}));
const snapshot = snapshotFromLists({ regions, backends: [], health: [] }, 1, Date.now());
const history = startHistory({
  store,
  config: { retentionDays: 30, minuteRetentionHours: 48, flushSeconds: 60 },
  state: { current: () => snapshot, onChange: () => () => undefined },
  metrics: () => Promise.resolve(''),
  logger: silentLogger,
});
const html = renderReportHtml(
  await gatherReport({ history, records, snapshot: () => snapshot }, { from, to }),
);
await history.close();
writeFileSync(join(out, 'report.html'), html);
writeFileSync(
  join(out, 'report.pdf'),
  await renderPdf(html, { chromiumPath: '/usr/bin/chromium', timeoutMs: 60_000 }),
);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
  await page.setContent(html);
  await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
} finally {
  await browser.close();
}
console.log(`wrote ${out}/report.html, report.pdf, report.png`);

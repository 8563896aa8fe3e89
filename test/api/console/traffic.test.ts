// The console's Traffic page in headless Chromium against a real `meridian serve`. It reads the
// history API of issue #15 (GET /v1/history/traffic and /health, GET /v1/report), which another
// branch builds: the first test answers those requests in the browser with a contract-shaped
// fixture (so the page's charts are checked on any branch); the second uses the node's real history
// API and needs that branch merged.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../helpers/browser.js';
import { ARTIFACTS, PASSWORD, startConsoleNode, type ConsoleNode } from './fixture.js';

const MINUTE = 60_000;

/** Two regions, one hour of per-minute points, in the shape of the history API's contract. */
function trafficFixture(now: number): unknown {
  const start = Math.floor(now / MINUTE) * MINUTE - 59 * MINUTE;
  const points = (scale: number) =>
    Array.from({ length: 60 }, (_, i) => ({
      t: start + i * MINUTE,
      dnsAnswers: Math.round(scale * (600 + 300 * Math.sin(i / 6))),
      proxyRequests: Math.round(scale * (1200 + 400 * Math.cos(i / 8))),
      proxyErrors: i % 15 === 0 ? Math.round(scale * 30) : Math.round(scale * 2),
      p95Ms: i === 30 ? null : Math.round(40 + 20 * scale + 10 * Math.sin(i / 5)),
    }));
  return {
    from: new Date(start).toISOString(),
    to: new Date(start + 60 * MINUTE).toISOString(),
    stepSeconds: 60,
    series: [
      { region: 'eu-west', points: points(1) },
      { region: 'us-east', points: points(0.6) },
    ],
    byCountry: [{ country: 'DE', continent: 'EU', region: 'eu-west', dnsAnswers: 36000 }],
  };
}

async function logIn(browser: Browser, node: ConsoleNode): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  await page.goto(`${node.apiUrl}/console`);
  await page.fill('input[name=username]', 'vera');
  await page.fill('input[name=password]', PASSWORD);
  await page.press('input[name=password]', 'Enter');
  await page.waitForSelector('#who:has-text("vera")');
  return page;
}

void describe('console Traffic page', { timeout: 90_000 }, () => {
  let node: ConsoleNode | undefined;
  let browser: Browser | undefined;

  before(async () => {
    const [started, launched] = await Promise.allSettled([startConsoleNode(), launchChromium()]);
    if (started.status === 'fulfilled') node = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
  });

  after(async () => {
    await browser?.close();
    await node?.close();
  });

  it('draws per-region rates, error rate and p95 from the history contract', async () => {
    assert.ok(node !== undefined && browser !== undefined);
    const page = await logIn(browser, node);
    const asked: string[] = [];
    await page.route('**/v1/history/traffic?*', async (route) => {
      asked.push(route.request().url());
      await route.fulfill({ json: trafficFixture(Date.now()) });
    });
    await page.route('**/v1/history/health?*', (route) =>
      route.fulfill({
        json: {
          events: [
            {
              t: Date.now() - 20 * MINUTE,
              region: 'eu-west',
              backend: 'web-1',
              healthy: false,
              reason: 'connect ECONNREFUSED',
              source: 'proxy-1',
            },
            {
              t: Date.now() - 18 * MINUTE,
              region: 'eu-west',
              backend: 'web-1',
              healthy: true,
              reason: 'probe ok',
              source: 'proxy-1',
            },
          ],
        },
      }),
    );
    await page.click('nav a[href="#/traffic"]');
    await page.waitForSelector('#traffic-charts .uplot >> nth=3');
    assert.equal(await page.locator('#traffic-charts .uplot').count(), 4);
    const legend = (await page.locator('#traffic-charts').textContent()) ?? '';
    for (const word of ['eu-west', 'us-east', 'DNS answers per second', 'p95 latency (ms)'])
      assert.ok(legend.includes(word), word);
    await page.waitForSelector('#health-events td:text-is("connect ECONNREFUSED")');
    const url = new URL(asked[0] ?? '');
    assert.equal(url.searchParams.get('step'), '60');
    assert.ok(
      Date.parse(url.searchParams.get('to') ?? '') - Date.parse(url.searchParams.get('from') ?? '') ===
        3600_000,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'traffic-contract.png'), fullPage: true });
    await page.context().close();
  });

  it("reads the node's own history API and opens the report (needs the history branch)", async () => {
    assert.ok(node !== undefined && browser !== undefined);
    const page = await logIn(browser, node);
    await page.click('nav a[href="#/traffic"]');
    const message = page.locator('#traffic-message');
    await page.waitForSelector('#traffic-message:not(:empty)');
    assert.match(
      (await message.textContent()) ?? '',
      /s steps, \d+ regions/,
      'the history API did not answer',
    );
    assert.equal(await page.locator('#traffic-charts .card').count(), 4);
    // The report opens in a new tab with the session cookie; its answer is watched from the start.
    const answered = page.context().waitForEvent('response', {
      predicate: (res) => res.url().includes('/v1/report?'),
    });
    const opened = page.context().waitForEvent('page');
    await page.click('#report-html');
    const [answer, report] = await Promise.all([answered, opened]);
    assert.equal(answer.status(), 200);
    await report.waitForLoadState();
    await page.screenshot({ path: join(ARTIFACTS, 'traffic-history.png'), fullPage: true });
    await report.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    await page.context().close();
  });
});

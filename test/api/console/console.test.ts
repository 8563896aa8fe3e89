// The web console in a real browser (Debian's chromium through playwright-core) against a real
// `meridian serve` (fixture.ts): log in, see the regions on the map, drain a region from the console
// and watch its marker change colour and the DNS answer move (dig), add a WAF rule and see a blocked
// request counted, and a viewer that gets no action buttons and whose forged POSTs are refused (a
// viewer session with its CSRF token: 403 permission; any session without the token: 403 CSRF).
// Every page is saved as a screenshot under test-artifacts/console/.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../helpers/browser.js';
import { httpRequest } from '../../helpers/backends.js';
import { answerData, dig } from '../../helpers/dig.js';
import { waitFor } from '../../helpers/wait.js';
import {
  ARTIFACTS,
  BOOT,
  EU_ADDRESS,
  PASSWORD,
  US_ADDRESS,
  startConsoleNode,
  type ConsoleNode,
} from './fixture.js';

const VIEWPORT = { width: 1366, height: 860 };

async function logIn(
  browser: Browser,
  node: ConsoleNode,
  user: string,
): Promise<{ page: Page; external: string[] }> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const external: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(node.apiUrl)) external.push(req.url());
  });
  page.on('pageerror', (err) => external.push(`page error: ${err.message}`));
  await page.goto(`${node.apiUrl}/console`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', PASSWORD);
  await page.press('input[name=password]', 'Enter');
  await page.waitForSelector('#who:has-text("' + user + '")');
  return { page, external };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The forged POST runs inside the logged-in page: same origin, the session cookie goes along. */
function forgedPost(page: Page, path: string, withCsrf: boolean): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ({ path, withCsrf }) => {
      const headers: Record<string, string> = {};
      // The page's sessionStorage (this runs in the browser; the test's lib has no DOM types).
      const storage = (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } })
        .sessionStorage;
      if (withCsrf) headers['x-csrf-token'] = storage.getItem('meridian.csrf') ?? '';
      const res = await fetch(path, { method: 'POST', headers, credentials: 'same-origin' });
      return { status: res.status, body: await res.text() };
    },
    { path, withCsrf },
  );
}

void describe('web console in headless Chromium', { timeout: 90_000 }, () => {
  let node: ConsoleNode;
  let browser: Browser;
  /** The operator's page stays open for the last test's forged POST without a CSRF token. */
  let operatorPage: Page;
  const digGermany = async (): Promise<string[]> =>
    answerData(
      await dig({ host: '127.0.0.1', port: node.dnsPort }, [
        'www.example.test',
        'A',
        `+subnet=${node.germanSubnet}`,
      ]),
      'A',
    );

  before(async () => {
    // Both take seconds; neither needs the other.
    const [started, launched] = await Promise.allSettled([startConsoleNode(), launchChromium()]);
    // Keep whichever started, so after() closes it when the other failed.
    if (started.status === 'fulfilled') node = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
  });

  after(async () => {
    await browser?.close();
    await node?.close();
  });

  it('serves the console under a strict CSP with no inline script', async () => {
    const res = await fetch(`${node.apiUrl}/console`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    const html = await res.text();
    assert.doesNotMatch(
      html,
      /<script(?![^>]*\bsrc=)[^>]*>/,
      'an inline <script> would be blocked by the CSP',
    );
    const traversal = await fetch(`${node.apiUrl}/console/..%2F..%2Fpackage.json`);
    assert.equal(traversal.status, 404);
  });

  it('the bootstrap admin logs in with the configured token, sees the map, and logging out only forgets it', async () => {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    await page.goto(`${node.apiUrl}/console`);
    await page.click('details summary');
    await page.fill('input[name=token]', 'not-the-token');
    await page.press('input[name=token]', 'Enter');
    await page.waitForSelector('.field-error:has-text("not valid")');
    await page.fill('input[name=token]', BOOT);
    await page.press('input[name=token]', 'Enter');
    await page.waitForSelector('#who:has-text("admin")');
    await page.waitForSelector('svg circle');
    await shot(page, '0-bootstrap-token-overview');
    await page.click('#logout');
    await page.waitForSelector('form.login');
    // Forgotten by the tab, not revoked: the token still works for the API.
    const still = await fetch(`${node.apiUrl}/v1/whoami`, { headers: { authorization: `Bearer ${BOOT}` } });
    assert.equal(still.status, 200);
    await context.close();
  });

  it('an operator logs in, sees the regions on the map, drains one and the marker and DNS answer move', async () => {
    const { page, external } = await logIn(browser, node, 'otto');
    const eu = page.locator('circle[data-region="eu-west"]');
    const us = page.locator('circle[data-region="us-east"]');
    await eu.waitFor();
    await us.waitFor();
    // The proxy for eu-west reports its backend healthy: the marker turns green.
    await page.waitForSelector('circle[data-region="eu-west"][data-status="healthy"]', { timeout: 15_000 });
    const before = await eu.getAttribute('fill');
    // Clients in Germany are sent to eu-west, in the DNS answer and on the map.
    assert.deepEqual(await digGermany(), [EU_ADDRESS]);
    await page.waitForSelector('path[data-country-id="276"][data-region="eu-west"]');
    await shot(page, '1-overview');

    await page.click('nav a[href="#/regions"]');
    // Keyboard: Escape cancels the confirmation and nothing is drained.
    await page.click('tr[data-region="us-east"] button[data-action="drain"]');
    await page.waitForSelector('dialog#confirm[open]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog#confirm', { state: 'hidden' });
    const usEast = (await node.api('GET', '/v1/regions/us-east')).json as { region: { state: string } };
    assert.equal(usEast.region.state, 'active');
    await page.click('tr[data-region="eu-west"] button[data-action="drain"]');
    await page.waitForSelector('dialog#confirm[open]');
    await shot(page, '2-regions-confirm-drain');
    await page.click('#confirm-ok');
    await page.waitForSelector('tr[data-region="eu-west"] .pill.draining');
    // The explain box gives the decision for the German subnet: us-east now.
    await page.fill('#explain input[name=client]', node.germanSubnet);
    await page.click('#explain button[type=submit]');
    await page.waitForSelector(`#explain-result:has-text("${US_ADDRESS}")`);
    await shot(page, '3-regions-drained-explain');

    await page.click('nav a[href="#/overview"]');
    await page.waitForSelector('circle[data-region="eu-west"][data-status="draining"]', { timeout: 10_000 });
    const afterDrain = await page.locator('circle[data-region="eu-west"]').getAttribute('fill');
    assert.notEqual(afterDrain, before, 'the drained region keeps its colour');
    await page.waitForSelector('path[data-country-id="276"][data-region="us-east"]');
    assert.deepEqual(
      await waitFor('the DNS answer for Germany to move to us-east', async () => {
        const a = await digGermany();
        return a[0] === US_ADDRESS ? a : undefined;
      }),
      [US_ADDRESS],
    );
    await shot(page, '4-overview-drained');
    assert.deepEqual(external, [], 'the console made requests elsewhere');
    operatorPage = page;
  });

  it('an admin adds a WAF rule and sees a blocked request counted', async () => {
    const { page, external } = await logIn(browser, node, 'ada');
    await page.click('nav a[href="#/policies"]');
    const policy = {
      id: 'block-secret',
      type: 'waf',
      description: 'No one reads /secret',
      rules: [{ id: 'secret-path', target: 'path', pattern: '^/secret', action: 'block' }],
    };
    // A bad pattern first: the error is shown next to the editor, naming the field.
    const bad = { ...policy, rules: [{ ...policy.rules[0], pattern: '(' }] };
    await page.fill('#policy-editor textarea', JSON.stringify(bad, null, 2));
    await page.click('#policy-editor button[type=submit]');
    await page.click('#confirm-ok');
    const error = page.locator('#policy-editor .field-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /pattern/);
    await shot(page, '5-policies-field-error');

    await page.fill('#policy-editor textarea', JSON.stringify(policy, null, 2));
    await page.click('#policy-editor button[type=submit]');
    await page.click('#confirm-ok');
    await page.waitForSelector('td[data-hits="block-secret"]:text-is("0")');
    const blocked = await httpRequest(`${node.proxyUrl}/secret/plans`);
    assert.equal(blocked.status, 403);
    assert.equal((await httpRequest(`${node.proxyUrl}/public`)).status, 200);
    await page.waitForSelector('td[data-hits="block-secret"]:text-is("1")', { timeout: 10_000 });
    await shot(page, '6-policies-waf-counted');

    // A bulk import is all or nothing: the bad second entry is named beside the file input and the
    // first is not imported; the corrected file goes in whole.
    const importFile = (yaml: string) =>
      page.setInputFiles('#policy-import input[type=file]', {
        name: 'policies.yaml',
        mimeType: 'application/yaml',
        buffer: Buffer.from(yaml),
      });
    const good = '- { id: per-ip, type: rate_limit, rate: 50, burst: 100 }\n';
    await importFile(`${good}- { id: daily, type: quota, limit: 0, period: day }\n`);
    await page.click('#policy-import button[type=submit]');
    await page.click('#confirm-ok');
    const importError = page.locator('#policy-import .field-error');
    await importError.waitFor();
    assert.match((await importError.textContent()) ?? '', /policies\[1\]\.limit/);
    assert.equal((await node.api('GET', '/v1/policies/per-ip')).status, 404);
    await importFile(`${good}- { id: daily, type: quota, limit: 1000, period: day }\n`);
    await page.click('#policy-import button[type=submit]');
    await page.click('#confirm-ok');
    await page.waitForSelector('tr[data-policy="daily"]');
    await page.waitForSelector('tr[data-policy="per-ip"]');
    await shot(page, '6b-policies-imported');

    await page.click('nav a[href="#/traffic"]');
    await page.waitForSelector('#traffic-message:not(:empty)');
    await shot(page, '7-traffic');
    await page.click('nav a[href="#/records"]');
    await page.waitForSelector('td:text-is("region.drain")');
    await shot(page, '8-audit');
    await page.click('button[data-tab="tasks"]');
    await page.waitForSelector('tr[data-task="builtin-retention"]');
    await shot(page, '9-tasks');
    assert.deepEqual(external, [], 'the console made requests elsewhere');
    await page.context().close();
  });

  it('a viewer sees no action buttons, and forged POSTs are refused', async () => {
    const { page, external } = await logIn(browser, node, 'vera');
    await page.click('nav a[href="#/regions"]');
    await page.waitForSelector('tr[data-region="us-east"]');
    await page.click('tr[data-region="eu-west"] button.link');
    await page.waitForSelector('#region-detail tr[data-backend="web-1"]');
    assert.equal(await page.locator('[data-action]').count(), 0, 'a viewer got action buttons');
    assert.equal(await page.locator('#add-region').count(), 0);
    await shot(page, '10-viewer-regions');
    await page.click('nav a[href="#/policies"]');
    await page.waitForSelector('tr[data-policy="block-secret"]');
    assert.equal(await page.locator('[data-action], #policy-editor, #policy-import').count(), 0);
    await shot(page, '11-viewer-policies');

    const withToken = await forgedPost(page, '/v1/regions/us-east/drain', true);
    assert.equal(withToken.status, 403, withToken.body);
    assert.match(withToken.body, /needs the \\"write\\" permission/);
    const withoutToken = await forgedPost(page, '/v1/regions/us-east/drain', false);
    assert.equal(withoutToken.status, 403, withoutToken.body);
    assert.match(withoutToken.body, /CSRF|csrf/);
    await page.context().close();

    // An operator's session without the CSRF token is refused too, and nothing changed.
    const forged = await forgedPost(operatorPage, '/v1/regions/us-east/drain', false);
    assert.equal(forged.status, 403, forged.body);
    const us = (await node.api('GET', '/v1/regions/us-east')).json as { region: { state: string } };
    assert.equal(us.region.state, 'active');
    assert.deepEqual(external, []);
  });
});

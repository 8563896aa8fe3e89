// Renders the report's HTML to PDF in headless Chromium (Debian's `chromium` package, driven by
// playwright-core: no browser download, nothing from the network — the page is self-contained and
// every request it would make is refused). One browser per render: reports are rare, and a
// long-lived browser would hold ~100 MB for nothing. A missing or broken Chromium is a clear
// E_UNAVAILABLE naming the path and the setting. playwright-core itself is imported on the first
// render, not with the node: loading it costs every node ~80 MB of RSS, reports are rare.
import { access, constants } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { MeridianError, describeError } from '../../core/errors.js';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface PdfOptions {
  readonly chromiumPath: string;
  readonly timeoutMs: number;
}

/** The HTML as an A4 PDF (backgrounds printed, 12 mm margins). */
export async function renderPdf(html: string, options: PdfOptions): Promise<Buffer> {
  try {
    await access(options.chromiumPath, constants.X_OK);
  } catch {
    throw new MeridianError(
      'E_UNAVAILABLE',
      `cannot render PDF: no Chromium at ${options.chromiumPath} (install Debian's chromium package, or set ops.report.chromiumPath); the HTML report works without it`,
    );
  }
  let browser: Browser | undefined;
  try {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: options.chromiumPath,
      args: CHROMIUM_ARGS,
      timeout: options.timeoutMs,
    });
    const page = await browser.newPage();
    page.setDefaultTimeout(options.timeoutMs);
    // The report loads nothing; refuse anything it might ask for all the same.
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html, { waitUntil: 'load' });
    return await page.pdf({
      format: 'A4',
      printBackground: true,
      margin: { top: '12mm', bottom: '12mm', left: '12mm', right: '12mm' },
    });
  } catch (err) {
    throw new MeridianError(
      'E_UNAVAILABLE',
      `cannot render PDF with ${options.chromiumPath}: ${describeError(err)}`,
      { cause: err },
    );
  } finally {
    await browser?.close().catch(() => undefined);
  }
}

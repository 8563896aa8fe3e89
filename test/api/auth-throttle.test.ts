// Failed admin API authentications are throttled per client address and logged through the
// rate-limited logger: 300 wrong tokens in a burst get 401 for the configured burst and 429 with
// Retry-After and a JSON body after it; the correct token is refused too while the address is
// throttled (else a guesser still reads success at full speed) and passes once the bucket refills;
// /healthz is never throttled. The clock is the API's injectable one, so refilling takes no waiting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startAdminApi, type AdminApi } from '../../src/api/server.js';
import { AuthThrottle } from '../../src/api/auth-throttle.js';
import { configSchema } from '../../src/config/schema.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { silentLogger } from '../../src/infra/logger.js';

const TOKEN = 'throttle-test-token-0123';
const BURST = 10;
const PER_SECONDS = 60;

interface LogLine {
  readonly msg: string;
  readonly ip?: string;
  readonly suppressed?: number;
  readonly reason?: string;
}

void describe('failed authentication throttling', () => {
  let store: MemoryStateStore;
  let api: AdminApi;
  let base: string;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const lines: LogLine[] = [];

  before(async () => {
    store = new MemoryStateStore({ logger: silentLogger });
    await store.start();
    const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
    api = await startAdminApi({
      listen: { host: '127.0.0.1', port: 0 },
      store,
      token: TOKEN,
      bodyLimitBytes: 65536,
      authFailures: { burst: BURST, perSeconds: PER_SECONDS },
      logger,
      metrics: () => Promise.resolve(''),
      now: () => clock,
    });
    base = `http://127.0.0.1:${api.address.port}`;
  });

  after(async () => {
    await api?.close();
    await store?.close();
  });

  const drain = (token: string) =>
    fetch(`${base}/v1/regions/nowhere/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });

  void it('answers 429 with Retry-After after the burst, logs rate-limited, lets the token in after refill', async () => {
    const started = Date.now();
    const statuses: number[] = [];
    let throttled: Response | undefined;
    // 300 wrong tokens, 10 in flight at a time.
    for (let i = 0; i < 300; i += 10) {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, j) => drain(`wrong-token-${i + j}`)));
      for (const r of replies) {
        statuses.push(r.status);
        if (r.status === 429) throttled = r;
        else await r.arrayBuffer();
      }
    }
    assert.ok(Date.now() - started < 10_000, 'the burst was sent quickly');
    assert.equal(statuses.filter((s) => s === 401).length, BURST, 'the burst gets 401');
    assert.equal(statuses.filter((s) => s === 429).length, 300 - BURST, 'everything after it gets 429');
    assert.ok(throttled !== undefined);
    assert.equal(throttled.headers.get('retry-after'), String(PER_SECONDS / BURST));
    const body = (await throttled.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'E_RATE_LIMITED');
    assert.match(body.error.message, /too many failed authentications from 127\.0\.0\.1/);

    // Rate-limited log: 10 lines in the 10 s window, naming the address, never the token.
    assert.equal(lines.length, 10, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.msg === 'admin API authentication failed').length, BURST);
    assert.ok(lines.every((l) => l.ip === '127.0.0.1'));
    assert.ok(!JSON.stringify(lines).includes('wrong-token-'));

    // While throttled the token is not even checked: the correct one gets 429 as well, for reads too
    // (every route but /healthz needs authentication); /healthz still answers.
    assert.equal((await drain(TOKEN)).status, 429);
    assert.equal(
      (await fetch(`${base}/v1/regions`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      429,
    );
    assert.equal((await fetch(`${base}/healthz`)).status, 200);

    // Still throttled just before one failure's worth of refill (perSeconds / burst); 10 s later (the
    // log window) the correct token passes (404: no such region, past authentication), and the next
    // log line counts what was suppressed.
    clock += (PER_SECONDS / BURST) * 1000 - 1;
    assert.equal((await drain(TOKEN)).status, 429);
    clock += 10_000 - (PER_SECONDS / BURST) * 1000 + 1;
    assert.equal((await drain(TOKEN)).status, 404);
    assert.equal((await drain('wrong-again')).status, 401);
    const last = lines.at(-1);
    assert.equal(last?.msg, 'admin API authentication failed');
    assert.equal(
      last?.suppressed,
      300 - BURST + 3,
      'the suppressed lines are counted (two writes and one read while throttled)',
    );
    assert.equal((await drain(TOKEN)).status, 429, 'throttled again after the new failure');
  });
});

void describe('AuthThrottle', () => {
  void it('refills over perSeconds and forgets refilled addresses past its bound', () => {
    let t = 0;
    const throttle = new AuthThrottle({ burst: 2, perSeconds: 10 }, () => t);
    throttle.failed('192.0.2.1');
    assert.equal(throttle.retryAfterSeconds('192.0.2.1'), 0);
    throttle.failed('192.0.2.1');
    assert.equal(throttle.retryAfterSeconds('192.0.2.1'), 5);
    t += 5000;
    assert.equal(throttle.retryAfterSeconds('192.0.2.1'), 0);
    for (let i = 0; i < 10_001; i++) throttle.failed(`2001:db8::${i.toString(16)}`);
    assert.ok(throttle.size <= 10_000, `bounded: ${throttle.size}`);
  });

  void it('is configured as api.authFailures, validated with the field named', () => {
    assert.deepEqual(configSchema.parse({}).api.authFailures, { burst: 10, perSeconds: 60 });
    const r = configSchema.safeParse({ api: { authFailures: { burst: 0 } } });
    assert.equal(r.success, false);
    assert.deepEqual(
      r.error?.issues.map((i) => i.path.join('.')),
      ['api.authFailures.burst'],
    );
  });
});

// Time arguments and the `ops` config section.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeridianError } from '../../src/core/errors.js';
import { opsSchema, retentionLimits } from '../../src/config/ops-schema.js';
import { CONFIG_TOKEN_ID, tokenActor } from '../../src/ops/audit.js';
import { parseRelative, parseTime } from '../../src/ops/time.js';

const NOW = Date.UTC(2025, 5, 15, 12, 0, 0);

void describe('parseTime', () => {
  void it('reads RFC 3339, bare dates, now and relative times', () => {
    assert.equal(parseTime('2025-06-01T12:00:00Z', 'since', NOW), Date.UTC(2025, 5, 1, 12));
    assert.equal(parseTime('2025-06-01T14:00:00+02:00', 'since', NOW), Date.UTC(2025, 5, 1, 12));
    assert.equal(parseTime('2025-06-01T12:00:00.250Z', 'since', NOW), Date.UTC(2025, 5, 1, 12, 0, 0, 250));
    assert.equal(parseTime('2025-06-01 12:00:00z', 'since', NOW), Date.UTC(2025, 5, 1, 12));
    assert.equal(parseTime('2025-06-01', 'since', NOW), Date.UTC(2025, 5, 1));
    assert.equal(parseTime('now', 'since', NOW), NOW);
    assert.equal(parseTime('-1h', 'since', NOW), NOW - 3_600_000);
    assert.equal(parseTime('-30m', 'since', NOW), NOW - 1_800_000);
    assert.equal(parseTime('-7d', 'since', NOW), NOW - 7 * 86_400_000);
    assert.equal(parseTime('2d', 'since', NOW), NOW - 2 * 86_400_000);
    assert.equal(parseTime('-45s', 'since', NOW), NOW - 45_000);
    assert.equal(parseRelative('-2w'), 14 * 86_400_000);
  });

  void it('rejects anything else, naming the field', () => {
    for (const bad of [
      '',
      'yesterday',
      '-1y',
      '1.5h',
      '2025-02-30',
      '2025-13-01',
      '2025-06-01T25:00:00Z',
      '2025-06-01T12:00:00',
      '12:00',
      '+1h',
    ]) {
      assert.throws(
        () => parseTime(bad, '--since', NOW),
        (e: unknown) =>
          isMeridianError(e) &&
          e.code === 'E_VALIDATION' &&
          e.field === '--since' &&
          e.message.startsWith('--since: '),
        bad,
      );
    }
  });
});

void describe('ops config section', () => {
  void it('has the documented defaults', () => {
    const ops = opsSchema.parse({});
    assert.deepEqual(ops, {
      retention: { maxAgeDays: 30, maxCount: 100000, cleanupCron: '17 * * * *' },
      webhooks: [],
      flap: { transitions: 4, windowSeconds: 300 },
      history: { retentionDays: 30, minuteRetentionHours: 48, flushSeconds: 60 },
      report: { chromiumPath: '/usr/bin/chromium', pdfTimeoutSeconds: 60 },
    });
    assert.deepEqual(retentionLimits(ops.retention), { maxAgeMs: 30 * 86_400_000, maxCount: 100000 });
  });

  void it('names webhooks by a configured id, by position otherwise', () => {
    const ops = opsSchema.parse({
      webhooks: [{ url: 'https://a.example/x' }, { id: 'ops-chat', url: 'https://b.example/y' }],
    });
    assert.deepEqual(
      ops.webhooks.map((w) => w.id),
      ['webhook-1', 'ops-chat'],
    );
  });

  void it('fills webhook defaults and rejects bad values with their paths', () => {
    const ops = opsSchema.parse({ webhooks: [{ url: 'https://hooks.example.com/x' }] });
    assert.deepEqual(ops.webhooks[0], {
      id: 'webhook-1',
      url: 'https://hooks.example.com/x',
      minLevel: 'warning',
      timeoutMs: 5000,
      retries: 3,
    });
    const paths = (input: unknown): string[] => {
      const r = opsSchema.safeParse(input);
      assert.equal(r.success, false);
      return r.error?.issues.map((i) => i.path.join('.')) ?? [];
    };
    assert.deepEqual(paths({ webhooks: [{ url: 'ftp://x' }] }), ['webhooks.0.url']);
    assert.deepEqual(paths({ webhooks: [{ url: 'http://x', minLevel: 'loud' }] }), ['webhooks.0.minLevel']);
    assert.deepEqual(paths({ retention: { cleanupCron: 'hourly-ish' } }), ['retention.cleanupCron']);
    assert.deepEqual(paths({ flap: { transitions: 1 } }), ['flap.transitions']);
    assert.deepEqual(paths({ webhooks: [{ id: 'Chat Ops', url: 'http://x' }] }), ['webhooks.0.id']);
    const twice = { webhooks: [{ url: 'http://x' }, { id: 'webhook-1', url: 'http://y' }] };
    assert.deepEqual(paths(twice), ['webhooks.1.id']);
    assert.deepEqual(paths({ surprise: true }), ['']);
  });

  void it('names a token by its id, never by anything derived from the token', () => {
    assert.equal(tokenActor(CONFIG_TOKEN_ID), 'token:config');
  });
});

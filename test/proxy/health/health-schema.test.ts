import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  healthCheckSchema,
  outlierSchema,
  parseStatusRanges,
  reportSchema,
  statusMatches,
} from '../../../src/config/health-schema.js';

void test('defaults', () => {
  assert.deepEqual(healthCheckSchema.parse({}), {
    path: '/healthz',
    intervalMs: 750,
    timeoutMs: 500,
    expectedStatus: '200-399',
    rise: 2,
    fall: 2,
    jitter: 0.1,
  });
  assert.deepEqual(outlierSchema.parse({}), {
    consecutiveFailures: 5,
    baseEjectionMs: 10000,
    maxEjectionMs: 300000,
    maxEjectedPercent: 50,
  });
  assert.deepEqual(reportSchema.parse({}), { intervalMs: 1000, ttlMs: 3000 });
});

void test('expected status strings', () => {
  assert.deepEqual(parseStatusRanges('200-399'), [{ min: 200, max: 399 }]);
  assert.deepEqual(parseStatusRanges('200, 204,300-308'), [
    { min: 200, max: 200 },
    { min: 204, max: 204 },
    { min: 300, max: 308 },
  ]);
  for (const bad of ['', '2xx', '399-200', '200-', '99', '600', '200-600', '200;204']) {
    assert.equal(parseStatusRanges(bad), undefined, bad);
    assert.equal(healthCheckSchema.safeParse({ expectedStatus: bad }).success, false, bad);
  }
  const ranges = parseStatusRanges('200-299,304') ?? [];
  assert.equal(statusMatches(ranges, 204), true);
  assert.equal(statusMatches(ranges, 304), true);
  assert.equal(statusMatches(ranges, 301), false);
});

void test('invalid values are rejected with the field path', () => {
  const cases: [typeof healthCheckSchema | typeof outlierSchema | typeof reportSchema, unknown, string][] = [
    [healthCheckSchema, { path: 'healthz' }, 'path'],
    [healthCheckSchema, { rise: 0 }, 'rise'],
    [healthCheckSchema, { jitter: 1.5 }, 'jitter'],
    [healthCheckSchema, { unknown: 1 }, ''],
    [outlierSchema, { maxEjectedPercent: 101 }, 'maxEjectedPercent'],
    [outlierSchema, { baseEjectionMs: 20000, maxEjectionMs: 10000 }, 'maxEjectionMs'],
    [reportSchema, { intervalMs: 1000, ttlMs: 1000 }, 'ttlMs'],
  ];
  for (const [schema, input, path] of cases) {
    const r = schema.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    assert.equal(r.error?.issues[0]?.path.join('.'), path, JSON.stringify(input));
  }
});

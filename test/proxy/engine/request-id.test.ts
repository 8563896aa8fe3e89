// Request ids (src/proxy/engine/request-id.ts): version 4 UUIDs in randomUUID's format, distinct
// across many batches, with every random position taking every hex digit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newRequestId } from '../../../src/proxy/engine/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

void describe('request ids', () => {
  void it('are lower-case version 4 UUIDs, all distinct over 40 batches', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_240; i++) {
      const id = newRequestId();
      assert.match(id, UUID_V4);
      seen.add(id);
    }
    assert.equal(seen.size, 10_240);
  });

  void it('spread their random bits: every hex digit appears in every random position', () => {
    // 122 random bits per id; over 4096 ids each random nibble position takes all 16 values.
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 4096; i++) {
      const id = newRequestId();
      for (let c = 0; c < 36; c++) digits[c]?.add(id[c] as string);
    }
    for (const c of [0, 7, 9, 15, 21, 35]) assert.equal(digits[c]?.size, 16, `position ${c}`);
    assert.deepEqual([...(digits[14] ?? [])], ['4']);
    assert.deepEqual([...(digits[19] ?? [])].sort(), ['8', '9', 'a', 'b']);
  });
});

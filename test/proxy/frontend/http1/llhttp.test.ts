// The start-up self-test of Node's internal llhttp binding: it passes on the Node running the
// tests, and it refuses bindings that differ in the ways a new Node major could make them differ
// (method numbering, callback slots, callback arguments), naming what differs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  llhttp,
  selfTest,
  type Llhttp,
  type LlhttpParser,
} from '../../../../src/proxy/frontend/http1/llhttp.js';

function realBinding(): Llhttp {
  const binding = llhttp();
  if (typeof binding === 'string') assert.fail(`llhttp unavailable on ${process.version}: ${binding}`);
  return binding;
}

void describe('llhttp self-test', () => {
  void it(`passes on this Node (${process.version})`, () => {
    assert.equal(selfTest(realBinding()), undefined);
  });

  void it('refuses a binding whose method numbers moved', () => {
    const binding = realBinding();
    const reason = selfTest({ ...binding, methods: binding.methods.slice(1) });
    assert.match(String(reason), /kOnHeadersComplete gave .*"(?!POST)/);
  });

  void it('refuses a binding whose callback slots moved', () => {
    const binding = realBinding();
    const swappedBody = selfTest({
      ...binding,
      kOnBody: binding.kOnMessageComplete,
      kOnMessageComplete: binding.kOnBody,
    });
    assert.match(String(swappedBody), /kOnBody|kOnMessageComplete/);
    const swappedHeaders = selfTest({
      ...binding,
      kOnHeaders: binding.kOnHeadersComplete,
      kOnHeadersComplete: binding.kOnHeaders,
    });
    assert.match(String(swappedHeaders), /kOnHeadersComplete/);
  });

  void it('refuses a binding that passes body chunks as (buffer, start, length)', () => {
    const binding = realBinding();
    const kOnBody = binding.kOnBody;
    // The shape Node used before it passed one Buffer: the front-end would mis-read every body.
    class OldBodyParser extends binding.Parser {
      override execute(data: Buffer): ReturnType<LlhttpParser['execute']> {
        const onBody = this[kOnBody] as (...args: unknown[]) => void;
        this[kOnBody] = (chunk: Buffer): void => onBody(chunk, 0, chunk.length);
        try {
          return super.execute(data);
        } finally {
          this[kOnBody] = onBody;
        }
      }
    }
    const reason = selfTest({ ...binding, Parser: OldBodyParser });
    assert.equal(reason, 'kOnBody was not called with one Buffer');
  });

  void it('refuses a parser that accepts a malformed chunk size', () => {
    const binding = realBinding();
    class LenientParser extends binding.Parser {
      override execute(data: Buffer): ReturnType<LlhttpParser['execute']> {
        const result = super.execute(data);
        return typeof result === 'number' ? result : data.length;
      }
    }
    assert.match(String(selfTest({ ...binding, Parser: LenientParser })), /HPE_INVALID_CHUNK_SIZE/);
  });
});

// The HTTP/1 front-end's header views: headersOf (node:http's IncomingMessage#headers from raw
// headers) against node:http itself, and headerValue (one field, no object) against headersOf.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { headersOf, headerValue } from '../../../../src/proxy/frontend/http1/message.js';

/** Names in several spellings, repeated fields, first-wins singletons and cookie joining. */
const NAMES = [
  'Host',
  'host',
  'HOST',
  'Cookie',
  'cookie',
  'X-Request-ID',
  'x-request-id',
  'Accept',
  'ACCEPT',
  'Content-Length',
  'traceparent',
  'TraceState',
  'User-Agent',
  'X-Custom_Name',
  'x-custom_name',
  'X-Ab^c',
  'x-ab~c',
];
const VALUES = ['a', 'b=1', 'c; d', '', '1', 'x y'];

/** Deterministic pseudo-random raw header lists (a small LCG, so failures reproduce). */
function* rawLists(count: number): Generator<string[]> {
  let seed = 12345;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < count; i++) {
    const raw: string[] = [];
    const fields = next(9);
    for (let f = 0; f < fields; f++)
      raw.push(NAMES[next(NAMES.length)] as string, VALUES[next(VALUES.length)] as string);
    yield raw;
  }
}

void describe('request header views', () => {
  void it('headerValue gives what headersOf gives, for every field of 2,000 random lists', () => {
    const lookups = [...new Set(NAMES.map((n) => n.toLowerCase())), 'absent', 'x-ab^c'];
    for (const raw of rawLists(2000)) {
      const object = headersOf(raw);
      for (const name of lookups) {
        assert.equal(headerValue(raw, name), object[name], `${name} in ${JSON.stringify(raw)}`);
      }
    }
  });

  void it('matches letters only case-insensitively ("^" is not "~", "_" is not DEL)', () => {
    assert.equal(headerValue(['X-Ab^c', '1'], 'x-ab~c'), undefined);
    assert.equal(headerValue(['X-Ab~c', '1'], 'x-ab^c'), undefined);
    assert.equal(headerValue(['X_Y', '1'], 'x_y'), '1');
    assert.equal(headerValue(['X\x7fY', '1'], 'x_y'), undefined);
    assert.equal(headerValue(['Hosts', '1'], 'host'), undefined);
  });

  void it('joins set-cookie with ", " (an array in the header object)', () => {
    const raw = ['Set-Cookie', 'a=1', 'set-cookie', 'b=2'];
    assert.deepEqual(headersOf(raw)['set-cookie'], ['a=1', 'b=2']);
    assert.equal(headerValue(raw, 'set-cookie'), 'a=1, b=2');
  });

  void it('headersOf builds the object node:http builds, for the same request bytes', async () => {
    const seen: { raw: string[]; headers: IncomingHttpHeaders }[] = [];
    const server = createServer((req, res) => {
      seen.push({ raw: req.rawHeaders, headers: req.headers });
      res.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      // Host is sent once by hand, and Content-Length with these values would not parse.
      const fixed = [...rawLists(40)].map((raw) =>
        raw.filter((_, i, all) => !/^(host|content-length)$/i.test(all[i - (i % 2)] as string)),
      );
      for (const raw of fixed) {
        let head = 'GET / HTTP/1.1\r\nHost: h\r\n';
        for (let i = 0; i + 1 < raw.length; i += 2)
          head += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`;
        const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
        socket.end(`${head}Connection: close\r\n\r\n`);
        socket.resume();
        await once(socket, 'close');
      }
      assert.equal(seen.length, fixed.length);
      for (const { raw, headers } of seen) assert.deepEqual({ ...headersOf(raw) }, { ...headers });
    } finally {
      server.close();
    }
  });
});

// Request-target normalisation (src/proxy/engine/target.ts): RFC 3986 §5.2.4 dot segments, duplicate
// slashes, percent-decoding of unreserved characters only, absolute-form to origin-form with the
// authority checked against Host, and the untouched fast path.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseTarget, removeDotSegments } from '../../../src/proxy/engine/target.js';

const normal = (raw: string, host = 'shop.example', secure = false): string | { invalid: string } =>
  normaliseTarget(raw, host, secure);

void describe('request-target normalisation', () => {
  void it('removes dot segments as RFC 3986 §5.2.4 does (its examples, on absolute paths)', () => {
    assert.equal(removeDotSegments('/a/b/c/./../../g'), '/a/g');
    assert.equal(removeDotSegments('/mid/content=5/../6'), '/mid/6');
    assert.equal(removeDotSegments('/a/..'), '/');
    assert.equal(removeDotSegments('/a/.'), '/a/');
    assert.equal(removeDotSegments('/../../x'), '/x');
    assert.equal(removeDotSegments('/a/.b/..c'), '/a/.b/..c');
  });

  void it('returns an already normal target as is (the same string)', () => {
    for (const t of ['/', '/a/b', '/a.b/c..d?x=/../y', '*', '/.well-known/x']) assert.equal(normal(t), t);
  });

  void it('normalises paths and leaves the query alone', () => {
    const cases: [string, string][] = [
      ['/x/../admin', '/admin'],
      ['/./admin', '/admin'],
      ['//admin', '/admin'],
      ['/%61dmin', '/admin'],
      ['/%2e%2E/admin', '/admin'],
      ['/a%2fb/../c', '/c'],
      ['/a%2fb', '/a%2Fb'],
      ['/%7euser/%c3%a9', '/~user/%C3%A9'],
      ['/a//b/./c/?q=//./..', '/a/b/c/?q=//./..'],
      ['/a\\..\\b', '/a%5C..%5Cb'],
    ];
    for (const [raw, want] of cases) assert.equal(normal(raw), want, raw);
  });

  void it('rewrites absolute-form to origin-form when the authority is the Host', () => {
    assert.equal(normal('http://shop.example/admin?x=1'), '/admin?x=1');
    assert.equal(normal('HTTP://SHOP.example:80'), '/');
    assert.equal(normal('https://shop.example:443/a/../b', 'shop.example', true), '/b');
    assert.equal(normal('http://shop.example:8080/x', 'shop.example:8080'), '/x');
    assert.equal(normal('http://shop.example/x', undefined), '/x', 'HTTP/1.0 without Host');
  });

  void it('refuses what cannot be normalised or contradicts Host', () => {
    for (const raw of [
      'http://other.example/admin',
      'http://shop.example:8080/admin',
      'http://user@shop.example/',
      'http:///x',
      'ftp://shop.example/x',
      'admin',
      '/%zz',
      '/%4',
      '/a#frag',
    ])
      assert.equal(typeof normal(raw), 'object', raw);
  });
});

// Node's own HTTP/1 parser (llhttp, the one node:http uses), reached through the `_http_common`
// module. It is not a documented API, so it is checked once at load by a self-test that parses
// known requests through it — split heads, a chunked body, more headers than one flush holds, an
// upgrade with trailing bytes, two malformed requests — and compares every return value and
// callback argument the front-end relies on. When anything differs, the proxy falls back to
// node:http and says why (src/proxy/README.md: what to do on a new Node major).
import { createRequire } from 'node:module';

/** One llhttp request parser (node_http_parser.cc). */
export interface LlhttpParser {
  initialize(type: number, asyncResource: object, maxHeaderSize: number, lenientFlags: number): void;
  /** Bytes parsed, or the parse error (with `code`, e.g. HPE_HEADER_OVERFLOW, and `reason`). */
  execute(data: Buffer): number | ParseError;
  /** False until the current message's headers are complete (true again after each message). */
  headersCompleted(): boolean;
  /** Milliseconds since the current message began. */
  duration(): number;
  /**
   * Reads `handle` (a net.Socket's stream handle) straight into the parser, in C++: no Buffer, no
   * 'data' event per read. Each read's result then arrives through the kOnExecute callback.
   */
  consume(handle: object): void;
  unconsume(): void;
  /** The buffer of the read being parsed (for an upgrade's trailing bytes when consuming). */
  getCurrentBuffer(): Buffer;
  close(): void;
  [callback: number]: unknown;
}

export interface ParseError extends Error {
  readonly code?: string;
  readonly reason?: string;
}

export interface Llhttp {
  readonly Parser: new () => LlhttpParser;
  readonly REQUEST: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  /** Method names by llhttp's method number. */
  readonly methods: readonly string[];
}

let loaded: Llhttp | string | undefined;

/** The parser binding, or why it cannot be used on this Node. */
export function llhttp(): Llhttp | string {
  loaded ??= load();
  return loaded;
}

function load(): Llhttp | string {
  try {
    const common = createRequire(import.meta.url)('_http_common') as {
      HTTPParser?: Record<string, unknown> & (new () => LlhttpParser);
      methods?: unknown;
    };
    const P = common.HTTPParser;
    const methods = common.methods;
    if (typeof P !== 'function' || !Array.isArray(methods)) return 'node:_http_common has no HTTPParser';
    const numbers = [
      'REQUEST',
      'kOnHeaders',
      'kOnHeadersComplete',
      'kOnBody',
      'kOnMessageComplete',
      'kOnExecute',
    ];
    for (const name of numbers)
      if (typeof P[name] !== 'number') return `HTTPParser.${name} is missing on this Node version`;
    const probe = new P();
    const fns = [
      'initialize',
      'execute',
      'headersCompleted',
      'duration',
      'consume',
      'unconsume',
      'getCurrentBuffer',
      'close',
    ] as const;
    for (const fn of fns)
      if (typeof probe[fn] !== 'function') return `HTTPParser#${fn} is missing on this Node version`;
    probe.close();
    const binding: Llhttp = {
      Parser: P,
      REQUEST: P.REQUEST as number,
      kOnHeaders: P.kOnHeaders as number,
      kOnHeadersComplete: P.kOnHeadersComplete as number,
      kOnBody: P.kOnBody as number,
      kOnMessageComplete: P.kOnMessageComplete as number,
      kOnExecute: P.kOnExecute as number,
      methods: methods as string[],
    };
    const failed = selfTest(binding);
    return failed === undefined ? binding : `node's HTTP parser failed Meridian's self-test: ${failed}`;
  } catch (err) {
    return `cannot load node's HTTP parser: ${err instanceof Error ? err.message : String(err)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The self-test

/** What the parser reported for one message, in the order the front-end receives it. */
interface Seen {
  flushedHeaders: string[];
  flushedUrl: string;
  /** kOnHeadersComplete's arguments the front-end uses: 0, 1, 2, 3, 4, 7, 8. */
  complete: unknown[] | undefined;
  body: Buffer[];
  bodyArgsOk: boolean;
  messages: number;
}

function attach(binding: Llhttp, maxHeaderSize: number): { parser: LlhttpParser; seen: Seen } {
  const parser = new binding.Parser();
  parser.initialize(binding.REQUEST, {}, maxHeaderSize, 0);
  const seen: Seen = {
    flushedHeaders: [],
    flushedUrl: '',
    complete: undefined,
    body: [],
    bodyArgsOk: true,
    messages: 0,
  };
  parser[binding.kOnHeaders] = (headers: unknown, url: unknown): void => {
    if (Array.isArray(headers)) seen.flushedHeaders.push(...(headers as string[]));
    if (typeof url === 'string') seen.flushedUrl += url;
  };
  parser[binding.kOnHeadersComplete] = (...args: unknown[]): number => {
    seen.complete = [args[0], args[1], args[2], args[3], args[4], args[7], args[8]];
    return 0;
  };
  parser[binding.kOnBody] = (...args: unknown[]): void => {
    // The front-end takes the chunk as the only argument (older Nodes passed buffer, start, length).
    if (args.length !== 1 || !Buffer.isBuffer(args[0])) seen.bodyArgsOk = false;
    else seen.body.push(Buffer.from(args[0]));
  };
  parser[binding.kOnMessageComplete] = (): void => {
    seen.messages++;
  };
  return { parser, seen };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Parses known requests through `binding` and checks what the front-end relies on; undefined when
 * all of it holds, else the first difference. Exported for the test that breaks a binding on
 * purpose.
 */
export function selfTest(binding: Llhttp): string | undefined {
  // 1. A chunked POST whose head arrives in two pieces.
  {
    const { parser, seen } = attach(binding, 0);
    const head = 'POST /upload?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Probe: one\r\n';
    const rest = 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
    const first = parser.execute(Buffer.from(head, 'latin1'));
    if (first !== head.length) return `execute() returned ${String(first)} for ${head.length} header bytes`;
    if (parser.headersCompleted()) return 'headersCompleted() is true halfway through a head';
    if (typeof parser.duration() !== 'number') return 'duration() is not a number';
    const second = parser.execute(Buffer.from(rest, 'latin1'));
    if (second !== rest.length) return `execute() returned ${String(second)} for ${rest.length} bytes`;
    const headers = ['Host', 'example.test', 'X-Probe', 'one', 'Transfer-Encoding', 'chunked'];
    const complete = seen.complete;
    if (complete === undefined) return 'kOnHeadersComplete was not called';
    const got = [
      complete[0],
      complete[1],
      [...seen.flushedHeaders, ...((complete[2] as string[] | undefined) ?? [])],
      binding.methods[complete[3] as number],
      seen.flushedUrl + (typeof complete[4] === 'string' ? complete[4] : ''),
      complete[5],
      complete[6],
    ];
    const want = [1, 1, headers, 'POST', '/upload?x=1', false, true];
    if (!same(got, want))
      return `kOnHeadersComplete gave ${JSON.stringify(got)} (major, minor, headers, method, url, upgrade, keepAlive), expected ${JSON.stringify(want)}`;
    if (!seen.bodyArgsOk) return 'kOnBody was not called with one Buffer';
    const body = Buffer.concat(seen.body).toString('latin1');
    if (body !== 'hello world') return `kOnBody delivered ${JSON.stringify(body)}, expected "hello world"`;
    if (seen.messages !== 1) return `kOnMessageComplete was called ${seen.messages} times, expected 1`;
    if (!parser.headersCompleted()) return 'headersCompleted() is false after a complete message';
    parser.close();
  }
  // 2. More header lines than one flush holds: kOnHeaders carries the first ones, in order.
  {
    const { parser, seen } = attach(binding, 0);
    const many: string[] = ['Host', 'a'];
    for (let i = 0; i < 40; i++) many.push(`X-H${i}`, `v${i}`);
    let text = 'GET /many HTTP/1.0\r\n';
    for (let i = 0; i < many.length; i += 2) text += `${many[i]}: ${many[i + 1]}\r\n`;
    text += '\r\n';
    const n = parser.execute(Buffer.from(text, 'latin1'));
    const complete = seen.complete;
    if (n !== text.length || complete === undefined) return 'a request with 41 header lines was not parsed';
    const headers = [...seen.flushedHeaders, ...((complete[2] as string[] | undefined) ?? [])];
    const url = seen.flushedUrl + (typeof complete[4] === 'string' ? complete[4] : '');
    if (!same(headers, many) || url !== '/many')
      return `41 header lines came back as ${headers.length / 2} (url ${JSON.stringify(url)}) through kOnHeaders + kOnHeadersComplete`;
    if (complete[0] !== 1 || complete[1] !== 0 || complete[6] !== false)
      return 'an HTTP/1.0 request without keep-alive was not reported as 1.0, not keep-alive';
    parser.close();
  }
  // 3. An upgrade: the parser stops at the end of the head and leaves the rest to the caller.
  {
    const { parser, seen } = attach(binding, 0);
    const head = 'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const n = parser.execute(Buffer.from(`${head}xyz`, 'latin1'));
    if (n !== head.length)
      return `an upgrade consumed ${String(n)} bytes, expected the ${head.length} of its head`;
    if (seen.complete?.[5] !== true) return 'an upgrade request was not flagged as one';
    parser.close();
  }
  // 4. Malformed input: an error carrying llhttp's code and reason, not an exception.
  {
    const { parser } = attach(binding, 0);
    const bad = parser.execute(
      Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'latin1'),
    );
    if (typeof bad === 'number' || bad.code !== 'HPE_INVALID_CHUNK_SIZE' || typeof bad.reason !== 'string')
      return `a bad chunk size gave ${describe(bad)}, expected an HPE_INVALID_CHUNK_SIZE error`;
    parser.close();
    const small = attach(binding, 64).parser;
    const big = small.execute(Buffer.from(`GET / HTTP/1.1\r\nHost: a\r\nX-Long: ${'a'.repeat(100)}\r\n\r\n`));
    if (typeof big === 'number' || big.code !== 'HPE_HEADER_OVERFLOW')
      return `a head over maxHeaderSize gave ${describe(big)}, expected HPE_HEADER_OVERFLOW`;
    small.close();
  }
  return undefined;
}

function describe(result: number | ParseError): string {
  return typeof result === 'number' ? `${result} bytes parsed` : `error ${String(result.code)}`;
}

// Node's own HTTP/1 parser (llhttp, the one node:http uses), reached through the `_http_common`
// module. It is not a documented API, so its shape is checked once at load; when it does not
// match, the proxy falls back to node:http and says why.
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
    const numbers = ['REQUEST', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete'];
    for (const name of numbers)
      if (typeof P[name] !== 'number') return `HTTPParser.${name} is missing on this Node version`;
    const probe = new P();
    for (const fn of ['initialize', 'execute', 'headersCompleted', 'duration', 'close'] as const)
      if (typeof probe[fn] !== 'function') return `HTTPParser#${fn} is missing on this Node version`;
    probe.close();
    return {
      Parser: P,
      REQUEST: P.REQUEST as number,
      kOnHeaders: P.kOnHeaders as number,
      kOnHeadersComplete: P.kOnHeadersComplete as number,
      kOnBody: P.kOnBody as number,
      kOnMessageComplete: P.kOnMessageComplete as number,
      methods: methods as string[],
    };
  } catch (err) {
    return `cannot load node's HTTP parser: ${err instanceof Error ? err.message : String(err)}`;
  }
}

// Structured JSON logs (pino) with a component field and secrets redacted. Every line is one JSON
// object with each key once, which pino does not ensure by itself (it appends strings, by design):
// - a nested `child({ component: 'geo' })` under `component: 'dns'` would print the key twice;
//   loggers made here build such children from the root instead, with the parent's bindings merged
//   in and the components joined (`dns.geo`);
// - a log call's field that the logger already binds (`{ region }` on a region's logger) is dropped
//   when it holds the same value and written as `call.<key>` when it differs; a `msg` field beside
//   a message string becomes `call.msg`.
import { pino, type Bindings, type ChildLoggerOptions, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'token',
  'password',
  'authorization',
  '*.token',
  '*.password',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** `dns` + `geo` → `dns.geo`; the same component twice (a tier under its own worker) stays one. */
function joinComponents(parent: unknown, child: unknown): unknown {
  if (typeof parent !== 'string' || typeof child !== 'string' || parent === child) return child;
  return parent.endsWith(`.${child}`) ? parent : `${parent}.${child}`;
}

/** The keys (and values) each logger binds, read once: bindings() parses them on every call. */
const boundFields = new WeakMap<object, ReadonlyMap<string, unknown>>();

function bound(logger: Logger): ReadonlyMap<string, unknown> {
  let fields = boundFields.get(logger);
  if (fields === undefined) {
    fields = new Map(Object.entries(logger.bindings()));
    boundFields.set(logger, fields);
  }
  return fields;
}

/** pino's own `child`: a pino child inherits its parent's properties, our `child` included. */
type PinoChild = (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger;

/**
 * Makes `logger.child` (and its children's) never repeat a key: a child whose bindings name a key
 * its parent already binds is made from `root` with the merged bindings.
 */
function withUniqueKeys(
  logger: Logger,
  root: Logger,
  pinoChild: PinoChild,
  rootKeys: ReadonlySet<string>,
): Logger {
  const child = (bindings: Bindings, options?: ChildLoggerOptions): Logger => {
    // Cached: fastify makes a child per request.
    const inherited = bound(logger);
    if (!Object.keys(bindings).some((k) => inherited.has(k))) {
      return withUniqueKeys(pinoChild.call(logger, bindings, options), root, pinoChild, rootKeys);
    }
    const merged: Bindings = { ...Object.fromEntries(inherited), ...bindings };
    if (inherited.has('component') && 'component' in bindings) {
      merged.component = joinComponents(inherited.get('component'), bindings.component);
    }
    for (const key of rootKeys) delete merged[key];
    const made = pinoChild.call(root, merged, { level: logger.level, ...options });
    return withUniqueKeys(made, root, pinoChild, rootKeys);
  };
  // Meridian uses no custom levels, which is all the generic signature adds.
  logger.child = child as unknown as Logger['child'];
  return logger;
}

const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (typeof a === 'object' && JSON.stringify(a) === JSON.stringify(b));

/**
 * pino's logMethod hook: rewrites a call's fields object so no key repeats one the logger binds or
 * the message. Only objects that collide are copied; everything else passes through untouched.
 */
function uniqueCallFields(this: Logger, args: unknown[], method: (...args: unknown[]) => void): void {
  const fields = args[0];
  if (typeof fields === 'object' && fields !== null && !(fields instanceof Error)) {
    const boundHere = bound(this);
    const hasMessage = typeof args[1] === 'string';
    let copy: Record<string, unknown> | undefined;
    for (const [key, value] of Object.entries(fields)) {
      const clashes = boundHere.has(key) || (key === 'msg' && hasMessage);
      if (!clashes) continue;
      copy ??= { ...(fields as Record<string, unknown>) };
      delete copy[key];
      if (!(boundHere.has(key) && sameValue(value, boundHere.get(key)))) copy[`call.${key}`] = value;
    }
    if (copy !== undefined) args = [copy, ...args.slice(1)];
  }
  method.apply(this, args);
}

export function createLogger(level: string, options: { destination?: number | string } = {}): Logger {
  const root = pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { logMethod: uniqueCallFields },
    },
    pino.destination({ dest: options.destination ?? 2, sync: false }),
  );
  // Unbound on purpose: always called with the logger it makes a child of as `this`.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const pinoChild = root.child as unknown as PinoChild;
  return withUniqueKeys(root, root, pinoChild, new Set(Object.keys(root.bindings())));
}

/** A logger that drops everything (tests, and components built without one). */
export const silentLogger: Logger = pino({ level: 'silent' });

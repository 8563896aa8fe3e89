// Structured JSON logs (pino) with a component field and secrets redacted.
import { pino, type Logger } from 'pino';

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

export function createLogger(level: string, options: { destination?: number | string } = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: options.destination ?? 2, sync: false }),
  );
}

/** A logger that drops everything (tests, and components built without one). */
export const silentLogger: Logger = pino({ level: 'silent' });

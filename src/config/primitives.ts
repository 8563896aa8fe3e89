// Small schema building blocks shared by the config sections.
import { z } from 'zod';
import { ID_PATTERN } from '../core/types.js';

export const positiveInt = z.number({ message: 'expected a positive integer' }).int().positive();
export const nonNegativeInt = z.number({ message: 'expected an integer >= 0' }).int().nonnegative();
export const id = z.string().regex(ID_PATTERN, { message: 'expected 1-63 characters of [a-z0-9-]' });

/** `host:port`, `[v6]:port`; port 0 lets the OS choose (tests). */
export const hostPort = z.string().refine((s) => parseHostPort(s) !== undefined, {
  message: 'expected host:port (IPv6 as [addr]:port)',
});

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(text: string): HostPort | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? '', port };
}

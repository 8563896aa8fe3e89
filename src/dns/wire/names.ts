// Name compression for the encoder (RFC 1035 §4.1.4): the labels and suffixes of each name, cached
// (names come from the configuration, so the cache stays small), and the compression table seeded
// with the question's name so answers point back into the question. Pure (no I/O).
import type { Question } from './reader.js';

export interface NameInfo {
  readonly suffixes: readonly string[];
  readonly labels: readonly Buffer[];
}

const nameInfoCache = new Map<string, NameInfo>();

/** The labels of `name` as bytes and, for each label, the suffix starting there. */
export function nameInfo(name: string): NameInfo {
  let info = nameInfoCache.get(name);
  if (info !== undefined) return info;
  const labels = name === '' ? [] : name.split('.');
  info = {
    suffixes: labels.map((_, i) => labels.slice(i).join('.')),
    labels: labels.map((l) => Buffer.from(l, 'latin1')),
  };
  // Names come from the configuration and from CNAME chains inside it, so this stays small; the
  // bound protects against a pathological configuration.
  if (nameInfoCache.size > 100_000) nameInfoCache.clear();
  nameInfoCache.set(name, info);
  return info;
}

/**
 * A fresh compression table (suffix → offset): the suffixes of a plain question name point into
 * the question, which always starts at offset 12.
 */
export function questionNameTable(q: Question | undefined): Map<string, number> {
  const names = new Map<string, number>();
  if (q !== undefined && q.plain && q.name !== '') {
    // Suffixes of the question name point into the question (offset 12 onwards).
    let off = 12;
    let rest = q.name;
    for (;;) {
      names.set(rest, off);
      const dot = rest.indexOf('.');
      if (dot < 0) break;
      off += 1 + dot;
      rest = rest.slice(dot + 1);
    }
  }
  return names;
}

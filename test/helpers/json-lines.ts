// Checks log output line by line: each line must be one JSON object, and no object may name a key
// twice (JSON.parse silently keeps the last one, so duplicates need a scan of the raw text).
import assert from 'node:assert/strict';

/** The keys that appear more than once in one object of `json` (any depth), e.g. ['component']. */
export function duplicateKeys(json: string): string[] {
  const duplicates: string[] = [];
  /** Per open container: the keys seen so far (objects) or undefined (arrays). */
  const stack: (Set<string> | undefined)[] = [];
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const keys = stack.at(-1);
      if (expectKey && keys !== undefined) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (keys.has(key)) duplicates.push(key);
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(undefined);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack.at(-1) !== undefined;
    }
  }
  return duplicates;
}

/** Asserts every non-empty line of `text` is a JSON object without a repeated key; returns them. */
export function assertJsonLines(text: string, what: string): Record<string, unknown>[] {
  const lines = text.split('\n').filter((l) => l !== '');
  return lines.map((line) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      assert.fail(`${what}: not a JSON line: ${line}`);
    }
    assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `${what}: ${line}`);
    assert.deepEqual(duplicateKeys(line), [], `${what}: a key repeats in ${line}`);
    return parsed as Record<string, unknown>;
  });
}

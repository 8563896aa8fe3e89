// WAF pattern compilation.
//
// Why RE2: WAF patterns come from operators (and, through the admin API, from anyone holding a
// token); a JavaScript RegExp with nested quantifiers such as `(a+)+$` backtracks exponentially and
// one request could hang the proxy's event loop. RE2 (the `re2` npm package, Google's RE2 compiled
// as a native addon) matches in time linear in the input, whatever the pattern. The price: RE2
// rejects the few features that need backtracking — backreferences (`\1`) and lookaround
// (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`) — so such patterns are refused when the policy is saved,
// with the RE2 error as the reason. Patterns are also limited to MAX_PATTERN_LENGTH characters and
// matched against at most MAX_SUBJECT_LENGTH characters of the request field, so both compile and
// match cost stay bounded. Inline flags work (`(?i)` for case-insensitive).
import RE2 from 're2';

export const MAX_PATTERN_LENGTH = 1000;
/** Longer request fields are matched on their first MAX_SUBJECT_LENGTH characters. */
export const MAX_SUBJECT_LENGTH = 16 * 1024;

export interface CompiledPattern {
  test(subject: string): boolean;
}

/** Compiles a WAF pattern with RE2; throws an Error whose message says why a pattern is refused. */
export function compilePattern(source: string): CompiledPattern {
  if (source.length === 0) throw new Error('pattern is empty');
  if (source.length > MAX_PATTERN_LENGTH)
    throw new Error(`pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
  let re: RE2;
  try {
    re = new RE2(source, 'u');
  } catch (err) {
    throw new Error(
      `not a valid RE2 pattern (backreferences and lookaround are not supported): ${(err as Error).message}`,
    );
  }
  return {
    test(subject: string): boolean {
      return re.test(subject.length > MAX_SUBJECT_LENGTH ? subject.slice(0, MAX_SUBJECT_LENGTH) : subject);
    },
  };
}

/** The reason a pattern would be refused, or undefined when it compiles. */
export function patternProblem(source: string): string | undefined {
  try {
    compilePattern(source);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

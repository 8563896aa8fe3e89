// The one polling helper of the test tree: tests wait for an observable state
// instead of sleeping a guessed time, and a timeout names what never happened.

export interface WaitOptions {
  /** How long to keep polling before failing (default 10 s). */
  readonly timeoutMs?: number;
  /** Pause between two checks (default 20 ms). */
  readonly intervalMs?: number;
}

/** What a passing check can return: `T` without its falsy members. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/**
 * Calls `check` until it returns a truthy value and returns that value; throws
 * `timed out after N ms waiting for <what>` once `timeoutMs` has passed. A
 * check that throws fails the wait at once (catch inside `check` to retry).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Truthy<T>> {
  const { timeoutMs = 10_000, intervalMs = 20 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

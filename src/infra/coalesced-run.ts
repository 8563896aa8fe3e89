// Runs an async job at most once at a time: a call while it runs shares that run and causes exactly
// one more afterwards (so a change seen mid-run is never missed, and a burst of change messages
// costs two runs, not one per message). Used by the stores that reload a snapshot from Redis.
export class CoalescedRun {
  #running: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly job: () => Promise<void>,
    /** Checked before a rerun: false (e.g. once closed) ends the loop. */
    private readonly shouldContinue: () => boolean = () => true,
  ) {}

  run(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    const loop = async (): Promise<void> => {
      do {
        this.#again = false;
        await this.job();
      } while (this.#again && this.shouldContinue());
    };
    this.#running = loop().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** The run in progress, if any (for close() to wait on). */
  get current(): Promise<void> | undefined {
    return this.#running;
  }
}

// Rate limiting for error logs on hot paths: a flood of bad packets or failing handlers must not
// turn into a flood of log lines.

/** At most `burst` log lines per `windowMs`; the rest are counted in `suppressed`. */
export class LogLimiter {
  private windowStart = 0;
  private count = 0;
  suppressed = 0;
  constructor(
    private readonly burst: number,
    private readonly windowMs: number,
  ) {}

  allow(now: number): boolean {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.count = 0;
    }
    if (this.count < this.burst) {
      this.count++;
      return true;
    }
    this.suppressed++;
    return false;
  }
}

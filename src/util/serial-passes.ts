/**
 * One pass at a time over some state that converges (a registration, an election): a call during a pass asks
 * for one more pass after it and shares its promise, so any number of triggers cost at most one extra pass, and
 * every caller resolves once the state has been looked at after its call.
 */
export class SerialPasses {
  private running: Promise<void> | undefined;
  private again = false;

  /** `pass` does the work once; `stopped` ends the repeats (a stopped owner runs no further pass). */
  constructor(
    private readonly pass: () => Promise<void>,
    private readonly stopped: () => boolean,
  ) {}

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped());
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** From inside a pass: run one more after it (the store moved under it). */
  repeat(): void {
    this.again = true;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Resolves when no pass runs (never rejects). */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }
}

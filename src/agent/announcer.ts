/**
 * Announcements (gratuitous ARPs for NAT addresses that became active here, issue 14) go out once the flows that
 * answer for them are on the switch. One wait at a time: a flush asking for a later version while a wait is under
 * way moves its target instead of adding a waiter (no pile of pending promises while the switch is away). When an
 * app has an announcement to repeat later (dueIn), one timer brings the next round then.
 */
import type { OfMessage } from '../openflow/index.js';

export interface AnnouncerDeps {
  /** Resolves once the desired version is on the switch (FlowManager.whenApplied). */
  whenApplied(version: number): Promise<void>;
  /** The packets to announce now (every app's AppRuntime.announce). */
  collect(): OfMessage[];
  /** Milliseconds until an app has an announcement due again (the least of AppRuntime.announceDueIn), if any. */
  dueIn(): number | undefined;
  send(packets: OfMessage[]): Promise<void>;
  onError(err: unknown): void;
  stopped(): boolean;
}

export class Announcer {
  private target = 0;
  private waiting = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: AnnouncerDeps) {}

  /** Announces once `version` (or a later one asked meanwhile) is applied. */
  after(version: number): void {
    this.target = Math.max(this.target, version);
    if (this.waiting) return;
    this.waiting = true;
    void (async () => {
      let v;
      do {
        v = this.target;
        await this.deps.whenApplied(v);
      } while (v !== this.target);
      this.waiting = false;
      if (this.deps.stopped()) return;
      const packets = this.deps.collect();
      if (packets.length > 0) await this.deps.send(packets).catch((err) => this.deps.onError(err));
      this.again();
    })();
  }

  /** Comes back when an announcement is due again: one timer, for the earliest. */
  private again(): void {
    const ms = this.deps.dueIn();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (ms === undefined || this.deps.stopped()) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.after(this.target);
    }, ms).unref();
  }
}

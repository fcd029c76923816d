/**
 * Announcements (gratuitous ARPs for NAT addresses that became active here, issue 14) go out once the flows that
 * answer for them are on the switch. One wait at a time: a flush asking for a later version while a wait is under
 * way moves its target instead of adding a waiter (no pile of pending promises while the switch is away).
 */
import type { OfMessage } from '../openflow/index.js';

export interface AnnouncerDeps {
  /** Resolves once the desired version is on the switch (FlowManager.whenApplied). */
  whenApplied(version: number): Promise<void>;
  /** The packets to announce now (every app's AppRuntime.announce). */
  collect(): OfMessage[];
  send(packets: OfMessage[]): Promise<void>;
  onError(err: unknown): void;
  stopped(): boolean;
}

export class Announcer {
  private target = 0;
  private waiting = false;

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
    })();
  }
}

/**
 * Transaction ids for one session: 32-bit, never 0 (0 means "assign one" to send()), wrapping. With at most
 * a few thousand requests in flight, a wrapped id cannot collide with a live one; `isBusy` lets the caller skip
 * one anyway.
 */
export class XidAllocator {
  private next: number;

  constructor(start = 1) {
    this.next = start >>> 0 || 1;
  }

  peek(): number {
    return this.next;
  }

  skipTo(next: number): void {
    this.next = next >>> 0 || 1;
  }

  allocate(isBusy?: (xid: number) => boolean): number {
    for (;;) {
      const xid = this.next;
      this.next = (this.next + 1) >>> 0 || 1;
      if (!isBusy || !isBusy(xid)) return xid;
    }
  }
}

/** Allocates `n` consecutive xids (none of them 0); returns the first. Used for a bundle's messages. */
export function allocateBlock(alloc: { peek(): number; skipTo(next: number): void }, n: number): number {
  let first = alloc.peek();
  if (first + n > 0xffffffff) first = 1; // never wrap inside a block, so membership is a range check
  alloc.skipTo((first + n) >>> 0 || 1);
  return first;
}

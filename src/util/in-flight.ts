/**
 * Operations in flight in this process, counted per store (any object) and key: an operation counts itself in with
 * enter() and out with leave() (once, however often called). Writers use it to tell a request alone in its process
 * from one of a burst, which should not all take the same lowest free number.
 */
export class InFlight {
  private readonly byStore = new WeakMap<object, Map<string, number>>();

  enter(store: object, key: string): { contended(): boolean; leave(): void } {
    let counts = this.byStore.get(store);
    if (!counts) this.byStore.set(store, (counts = new Map()));
    const byKey = counts;
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    let left = false;
    return {
      contended: () => (byKey.get(key) ?? 0) > 1,
      leave: () => {
        if (left) return;
        left = true;
        const n = (byKey.get(key) ?? 1) - 1;
        if (n === 0) byKey.delete(key);
        else byKey.set(key, n);
      },
    };
  }
}

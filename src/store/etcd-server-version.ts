/**
 * The etcd releases whose write transactions are slow, and the warning an operator gets when the store is one.
 *
 * etcd 3.4.0–3.4.23 copy the member's whole buffer of writes not yet committed to its backend for every read view they
 * open, and every transaction with compares opens one (etcd-io/etcd#12529). Under a steady write load that buffer
 * holds thousands of entries, so each write transaction costs the member several times what a plain put does:
 * measured on this project's 2-core machine with 32 concurrent writers, a transaction of one put 267 µs of etcd's CPU
 * on 3.4.23 and 60 µs on 3.5.16, where a put costs 50–53 µs on both (docs/northbound-writes.md, nineteenth session).
 * Every northbound write of wyvern is a transaction with compares (a port creation, its claims). Fixed in 3.5.0 by
 * sharing one copy of the buffer between read views (etcd-io/etcd#12933), and in 3.4.24 by the same change's backport
 * (etcd-io/etcd#15195). Debian 12 ships 3.4.23.
 */

/**
 * Writes etcd's backend gathers before it commits them to its database (`--backend-batch-limit`; etcd's default is
 * 10,000, or every 100 ms). The releases above copy the buffer of writes not yet committed for every transaction and
 * every read, and every wyvern write is a transaction. They copy the buffer's whole backing array, which a commit
 * empties but never shrinks: once a burst has put thousands of writes into one batch, every later read and transaction
 * copies ~10,000 entries, pending or not, until the member restarts or commits a batch without a key written in it
 * (bench:scale at 1,000 chassis: 3 runs in 4 spent twice etcd's CPU and allocated 0.3 GB/s at rest; docs/scale.md,
 * twenty-second session). Committing every 500 bounds the array, and every copy with it. Measured on etcd 3.4.23, one
 * member, 32 concurrent writers (docs/northbound-writes.md, twenty-second session): a port creation's transaction (6
 * puts, 5 compares) 205–235 → 120–155 µs of etcd's CPU, a put 46–64 → 42–50 µs, ~10 % more bytes written; on 3.5.16
 * no change. The sandbox's members (src/sandbox/etcd.ts) run with it; the warning and the README give it to operators.
 */
export const ETCD_BACKEND_BATCH_LIMIT = 500;

/** Whether etcd `version` ("3.4.23") copies its write buffer for every transaction: 3.4.0 up to 3.4.23. */
export function copiesWriteBufferPerTxn(version: string): boolean {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return major === 3 && minor === 4 && patch < 24;
}

/** What an operator is told when the store's etcd is one of them (`where`: the member, as the store URL shows it). */
export function slowTxnWarning(version: string, where: string): string {
  return (
    `etcd ${version} (${where}) copies its uncommitted writes for every transaction (etcd-io/etcd#12529, fixed in ` +
    "3.4.24 and 3.5): each of wyvern's writes costs it two to four times the CPU of a fixed release; upgrade etcd to 3.4.24 or later, " +
    `or start every member with --backend-batch-limit=${ETCD_BACKEND_BATCH_LIMIT} (ETCD_BACKEND_BATCH_LIMIT=${ETCD_BACKEND_BATCH_LIMIT} in ` +
    '/etc/default/etcd), which halves that cost (this warning stays: the member does not tell its settings)'
  );
}

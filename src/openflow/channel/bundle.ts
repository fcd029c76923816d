/**
 * ONF bundles (the OpenFlow 1.4 feature OVS accepts in 1.3 as an experimenter extension) as one call:
 * open and add every message (pipelined), barrier, then commit — or discard if the switch refused anything:
 * two round trips.
 *
 * Why the barrier: a BUNDLE_ADD that the switch rejects (bad instruction, bad table…) is answered with an ERROR
 * right away but does not poison the bundle, so committing blindly would apply the others. The barrier reply
 * comes after every add's error (the switch answers in order), so we know whether to commit or discard. Errors
 * found at commit time (e.g. a conflicting flow) arrive with the offending message's xid before the commit's own
 * ERROR (OFPBFC_MSG_FAILED). Either way the caller gets an OfBundleError naming the message's index.
 *
 * With `pipelineCommit` the commit follows the adds at once (one round trip, as ovn-controller's plain flow_mods +
 * barrier): all-or-nothing still holds for what the switch accepted, but a refused add leaves the rest committed.
 */
import { encodeMessage } from '../index.js';
import { OfpErrorMessage } from '../errors.js';
import type { BundleControlType, ErrorMsg, OfMessage } from '../types.js';
import { OfBundleError } from './errors.js';
import type { OfSession } from './session.js';
import { allocateBlock } from './xid.js';

export interface BundleOptions {
  /** OFPBF_ATOMIC: all or nothing. Default true. */
  atomic?: boolean;
  /** OFPBF_ORDERED: apply in the given order. Default true. */
  ordered?: boolean;
  /** Deadline for each round trip (open, barrier, commit). Default: requestTimeoutMs + 0.1 ms per message. */
  timeoutMs?: number;
  /**
   * Send the commit right behind the adds: one round trip instead of two. The switch still applies the
   * bundle at once, but an add it refused on arrival is not part of the bundle, so the rest is committed
   * anyway: the OfBundleError names the refused message and says `committed`. Meant for callers that
   * converge rather than roll back (the flow manager re-reads the switch after any failure). Default false.
   */
  pipelineCommit?: boolean;
}

const OFPBF_ATOMIC = 1;
const OFPBF_ORDERED = 2;

export async function runBundle(s: OfSession, msgs: OfMessage[], opts: BundleOptions): Promise<void> {
  const flags = ((opts.atomic ?? true) ? OFPBF_ATOMIC : 0) | ((opts.ordered ?? true) ? OFPBF_ORDERED : 0);
  const timeoutMs = opts.timeoutMs ?? s.requestTimeoutMs + Math.ceil(msgs.length / 10);
  const bundleId = s.allocBundleId();
  const control = (controlType: BundleControlType) =>
    s.exchange<OfMessage>({ type: 'BUNDLE_CONTROL', xid: 0, bundleId, controlType, flags }, timeoutMs);
  const discard = () =>
    control('discard_request').then(
      () => undefined,
      () => undefined,
    );

  // The open is pipelined with the adds (the switch handles messages in order, so the adds land in the open
  // bundle): one round trip less than waiting for the open reply. Its outcome is checked before the commit.
  const opened = control('open_request');
  opened.catch(() => undefined);

  // The adds get one contiguous block of xids, so an ERROR maps back to its message's index by subtraction.
  const first = allocateBlock(s.xidAllocator, msgs.length);
  const failures: Array<{ index: number; error: ErrorMsg }> = [];
  const sink = (err: ErrorMsg): boolean => {
    const index = err.xid - first;
    if (index < 0 || index >= msgs.length) return false;
    failures.push({ index, error: err });
    return true;
  };
  s.errorSinks.add(sink);
  try {
    try {
      await s.writeMany(msgs.length, (i) => {
        const xid = first + i;
        // OVS requires the inner message's xid to equal the BUNDLE_ADD's (else OFPBFC_MSG_BAD_XID).
        return encodeMessage({ type: 'BUNDLE_ADD', xid, bundleId, flags, message: { ...msgs[i]!, xid } });
      });
    } catch (err) {
      // A message that cannot be encoded stops the writes; the bundle opened for them is thrown away.
      await discard();
      throw err;
    }
    if (opts.pipelineCommit) return await commitPipelined(bundleId, control, opened, failures);
    const barrier = s.exchange({ type: 'BARRIER_REQUEST', xid: 0 }, timeoutMs);
    await awaitOpened(bundleId, opened, barrier);
    await barrier;
    if (failures.length > 0) {
      await discard();
      throw failureError(bundleId, failures);
    }
    try {
      await control('commit_request');
    } catch (err) {
      if (!(err instanceof OfpErrorMessage)) throw err;
      // A failed commit applies nothing; discarding too is harmless (at worst an ignored BAD_ID).
      await discard();
      throw failureError(bundleId, failures, err.error);
    }
  } finally {
    s.errorSinks.delete(sink);
  }
}

/**
 * The commit was sent behind the adds. The switch answers in order, so every add's ERROR has arrived by the
 * time the commit is answered: refused adds are known, and whether the rest was committed too.
 */
async function commitPipelined(
  bundleId: number,
  control: (t: BundleControlType) => Promise<OfMessage>,
  opened: Promise<OfMessage>,
  failures: Array<{ index: number; error: ErrorMsg }>,
): Promise<void> {
  const commit = control('commit_request');
  commit.catch(() => undefined);
  await awaitOpened(bundleId, opened, commit);
  try {
    await commit;
  } catch (err) {
    if (!(err instanceof OfpErrorMessage)) throw err;
    throw failureError(bundleId, failures, err.error);
  }
  if (failures.length > 0) throw failureError(bundleId, failures, undefined, true);
}

/** The open's outcome; if it failed, the request sent behind it is let settle and the failure names the bundle. */
async function awaitOpened(bundleId: number, opened: Promise<OfMessage>, behind: Promise<unknown>): Promise<void> {
  try {
    await opened;
  } catch (err) {
    await behind.catch(() => undefined);
    if (err instanceof OfpErrorMessage) throw new OfBundleError(bundleId, err.error, undefined);
    throw err;
  }
}

function failureError(
  bundleId: number,
  failures: Array<{ index: number; error: ErrorMsg }>,
  commitError?: ErrorMsg,
  committed = false,
): OfBundleError {
  const f = failures[0];
  if (f) return new OfBundleError(bundleId, f.error, f.index, commitError, committed);
  return new OfBundleError(bundleId, commitError!, undefined, commitError);
}

/** Typed errors raised by the OpenFlow channel (the codec's own errors live in ../errors.ts). */
import { OfpErrorMessage } from '../errors.js';
import type { ErrorMsg } from '../types.js';

/** A request got no reply within its deadline. */
export class OfTimeoutError extends Error {
  readonly xid: number;
  readonly what: string;
  readonly timeoutMs: number;

  constructor(what: string, xid: number, timeoutMs: number) {
    super(`OpenFlow ${what} (xid ${xid}) got no reply within ${timeoutMs} ms`);
    this.name = 'OfTimeoutError';
    this.xid = xid;
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/** The session is not up, or went down while the request was pending. */
export class OfChannelDownError extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(`OpenFlow channel down: ${reason}`);
    this.name = 'OfChannelDownError';
    this.reason = reason;
  }
}

/** The byte stream cannot be framed (a header announcing fewer than 8 bytes): the session must be dropped. */
export class OfFramingError extends Error {
  readonly offset: number;

  constructor(offset: number, reason: string) {
    super(`OpenFlow framing error at stream offset ${offset}: ${reason}`);
    this.name = 'OfFramingError';
    this.offset = offset;
  }
}

/** Version negotiation failed (OFPET_HELLO_FAILED). */
export class OfHelloError extends Error {
  constructor(reason: string) {
    super(`OpenFlow version negotiation failed: ${reason}`);
    this.name = 'OfHelloError';
  }
}

/**
 * A bundle failed. `index` is the position (in the caller's array) of the message the switch rejected, when
 * the switch named one; `error` is that message's decoded ERROR (or the bundle-level ERROR when no message
 * was named). The bundle was discarded: the switch is unchanged.
 */
export class OfBundleError extends OfpErrorMessage {
  readonly index: number | undefined;
  readonly bundleId: number;
  /** The ERROR answering the commit (typically OFPBFC_MSG_FAILED), when the failure surfaced at commit. */
  readonly commitError: ErrorMsg | undefined;
  /** The rest of the bundle was committed without the refused message (pipelineCommit only). */
  readonly committed: boolean;

  constructor(bundleId: number, error: ErrorMsg, index: number | undefined, commitError?: ErrorMsg, committed = false) {
    super(
      error,
      `${index === undefined ? `bundle ${bundleId}` : `bundle ${bundleId}, message #${index}`}${committed ? ' (the rest was committed)' : ''}`,
    );
    this.name = 'OfBundleError';
    this.index = index;
    this.bundleId = bundleId;
    this.commitError = commitError;
    this.committed = committed;
  }
}

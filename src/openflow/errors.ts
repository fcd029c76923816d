import type { ErrorMsg } from './types.js';

/** Malformed or truncated bytes. `offset` is the byte offset within the message where decoding failed. */
export class OfpDecodeError extends Error {
  readonly offset: number;
  readonly reason: string;

  constructor(offset: number, reason: string) {
    super(`OpenFlow decode error at offset ${offset}: ${reason}`);
    this.name = 'OfpDecodeError';
    this.offset = offset;
    this.reason = reason;
  }
}

/** A switch answered a request with OFPT_ERROR; thrown by the channel to the requester. */
export class OfpErrorMessage extends Error {
  readonly error: ErrorMsg;

  constructor(error: ErrorMsg, context?: string) {
    super(`${context ? context + ': ' : ''}switch error ${error.errTypeName}/${error.codeName}`);
    this.name = 'OfpErrorMessage';
    this.error = error;
  }

  get errType(): number {
    return this.error.errType;
  }

  get code(): number {
    return this.error.code;
  }
}

/**
 * A message object that cannot be encoded (unknown field name, value of the wrong shape or out of range, …).
 * The only error the encoder's entry points throw: `what` names the message type (and the failing piece when
 * known), `where` the byte offset within that message at which encoding stopped.
 */
export class OfpEncodeError extends Error {
  readonly what: string | undefined;
  readonly where: number | undefined;

  constructor(message: string, opts: { what?: string; where?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OfpEncodeError';
    this.what = opts.what;
    this.where = opts.where;
  }
}

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

/** A message object that cannot be encoded (unknown field name, value of the wrong shape, …). */
export class OfpEncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OfpEncodeError';
  }
}

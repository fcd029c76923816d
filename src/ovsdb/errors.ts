/**
 * Errors raised by the OVSDB client. `code` is a stable machine-readable tag; for errors the
 * server reported it is the RFC 7047 error string ("constraint violation", "timed out", …).
 */
export type OvsdbErrorCode =
  | 'framing' // the byte stream is not a sequence of JSON objects
  | 'protocol' // a well-formed message that breaks JSON-RPC/OVSDB rules
  | 'not-connected' // request made while the session is down
  | 'disconnected' // the session dropped while the request was in flight
  | 'closed' // the client was closed by its owner
  | 'schema' // a datum, column or table that does not fit the schema (checked before sending)
  | 'rpc' // the server answered a request with a JSON-RPC error
  | 'transaction' // a transact operation failed
  | 'timeout'
  | string;

export class OvsdbError extends Error {
  override readonly name = 'OvsdbError';
  constructor(
    readonly code: OvsdbErrorCode,
    message: string,
    readonly extra: {
      /** Index of the failed operation in a transact. */
      opIndex?: number;
      /** The failed operation's `op`. */
      op?: string;
      /** Server-side `error` string (RFC 7047 §3.1 errors such as "constraint violation"). */
      error?: string;
      details?: string;
      /** Byte offset into the stream for framing errors. */
      offset?: number;
      /** The JSON-RPC method involved. */
      method?: string;
    } = {},
  ) {
    super(message);
  }
}

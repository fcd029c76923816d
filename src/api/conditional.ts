/**
 * HTTP's conditional writes on the API (RFC 9110 §8.8.3, §13.1.1): an object's revision goes out as its ETag, and
 * comes back in If-Match; the model checks it (model/precondition.ts).
 */
import type { IfMatch } from '../model/precondition.js';
import { revisionOf } from '../model/precondition.js';
import type { IncomingHttpHeaders } from 'node:http';
import { etag, isRevisionText } from './etag.js';
import { ApiError, type ApiReply } from './http.js';

/** `body` as a reply, with its ETag when it carries a revision (model/precondition.ts withRevision). */
export function tagged(status: number, body: unknown): ApiReply {
  const rev = revisionOf(body);
  return rev === undefined ? { status, body } : { status, body, headers: { etag: etag(rev) } };
}

/** One entity tag: optionally weak (W/), then quoted characters (no quote, no space, no control). */
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

const badIfMatch = (text: string, why: string): ApiError =>
  new ApiError(
    400,
    'INVALID',
    `If-Match ${JSON.stringify(text)} ${why}: give * or the ETag of the object as read, quotes included (If-Match: "1234")`,
    'If-Match',
  );

/**
 * The request's If-Match, or undefined when it has none. `*`, or a list of entity tags; a malformed one is refused
 * (400) rather than guessed at. A tag that is well-formed but not one of ours, or weak (If-Match compares strongly),
 * matches no object: the write is refused as a failed condition (412), as RFC 9110 says.
 */
export function parseIfMatch(header: string | string[] | undefined): IfMatch | undefined {
  if (header === undefined) return undefined;
  const text = (Array.isArray(header) ? header.join(', ') : header).trim();
  if (text === '*') return { any: true };
  const revisions: number[] = [];
  // Entity tags hold no comma (nor space), so a comma always separates two.
  for (const part of text.split(',')) {
    const tag = part.trim();
    if (tag === '*') throw badIfMatch(text, 'mixes * with entity tags');
    const m = ENTITY_TAG.exec(tag);
    if (!m) throw badIfMatch(text, tag === '' ? 'has an empty entity tag' : `has a malformed entity tag ${JSON.stringify(tag)}`);
    if (m[1] === undefined && isRevisionText(m[2]!)) revisions.push(Number(m[2]));
  }
  return { revisions, text };
}

/** Conditions a client may count on to keep a write from being made, which the API does not evaluate. */
const UNSUPPORTED = [
  ['if-none-match', 'If-None-Match'],
  ['if-unmodified-since', 'If-Unmodified-Since'],
] as const;

/**
 * Refuses (400) a write carrying a condition it would otherwise ignore, and made anyway: If-Match where the route
 * takes none (`conditional` false: a creation, an import), and If-None-Match or If-Unmodified-Since anywhere.
 */
export function refuseIgnoredConditions(headers: IncomingHttpHeaders, what: string, conditional: boolean): void {
  if (!conditional && headers['if-match'] !== undefined)
    throw new ApiError(
      400,
      'INVALID',
      `If-Match is not supported on ${what}: conditions apply to writes to one existing object (its PATCH, DELETE and sub-resources)`,
      'If-Match',
    );
  for (const [h, name] of UNSUPPORTED) {
    if (headers[h] !== undefined)
      throw new ApiError(400, 'INVALID', `${name} is not supported on writes: use If-Match with the object's ETag`, name);
  }
}

/**
 * The API's entity tags (RFC 9110 §8.8.3): an object's store revision in quotes, a strong tag. Imports nothing: the
 * API client and the CLI read and write them too.
 */

/** A revision as written in a tag or typed by a user: a positive integer, no sign or leading zero. */
const REVISION = /^[1-9][0-9]{0,15}$/;

/** Whether `text` is a revision as written in our tags (`1234`). */
export const isRevisionText = (text: string): boolean => REVISION.test(text);

/** The ETag of an object at `revision`. */
export const etag = (revision: number): string => `"${revision}"`;

/** The revision an ETag of ours names; undefined for a weak, foreign or malformed tag. */
export function revisionOfEtag(tag: string): number | undefined {
  const opaque = tag.length > 2 && tag.startsWith('"') && tag.endsWith('"') ? tag.slice(1, -1) : undefined;
  return opaque !== undefined && isRevisionText(opaque) ? Number(opaque) : undefined;
}

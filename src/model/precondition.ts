/**
 * Conditional writes (HTTP's If-Match, RFC 9110 §13.1.1). A client that read an object names the revision it read
 * (the ETag the API sent), and its write is made only while the object is still at that revision: two operators
 * editing one router or one port's security groups from what each of them saw cannot silently undo each other's
 * change. Without a condition a write applies on top of whatever is current, as before.
 *
 * An object's revision is the store revision at which its record was last written (etcd's mod revision): any change
 * to the object's own configuration moves it, including changes made through its sub-resources (a router's
 * interfaces, routes and gateway; a security group's rules). What agents write beside it (a port's binding) does not.
 */
import type { KeyValue } from '../store/types.js';
import { preconditionFailed } from './errors.js';

/** An If-Match condition: any current object (`*`), or one of the entity tags listed. */
export type IfMatch =
  | { any: true }
  | {
      /** The revisions the tags name; a tag that names none (not one of ours, or weak) matches nothing. */
      revisions: readonly number[];
      /** The header as sent, for the refusal's message. */
      text: string;
    };

/**
 * Refuses (PRECONDITION_FAILED) a write to the object stored at `kv` unless `cond` holds for it. runCas calls it on
 * each plan that writes (Plan.object, CasOptions.ifMatch), so a retry after a lost race checks again: a write whose
 * object moved meanwhile is refused, one that lost on anything else (a guard) goes on. `*` holds for any object that
 * exists, and loading it proved that; a missing object, and a refusal of the change itself (409), come first.
 */
export function checkIfMatch(cond: IfMatch | undefined, kv: KeyValue, what: string): void {
  if (cond === undefined || 'any' in cond || cond.revisions.includes(kv.modRevision)) return;
  throw preconditionFailed(
    `${what} is at revision ${kv.modRevision}, not the one If-Match names (${cond.text}): it changed since you read it; read it again and retry`,
  );
}

const REVISION = Symbol('wyvern.revision');

/**
 * Records on `obj` the revision it was read or written at (none: left as it is), for the API's ETag. Not enumerable, and a symbol: never
 * in JSON, never copied by a spread (a copy changed from it would carry a revision it is not at).
 */
export function withRevision<T extends object>(obj: T, revision: number | undefined): T {
  if (revision !== undefined) Object.defineProperty(obj, REVISION, { value: revision, configurable: true });
  return obj;
}

/** The revision withRevision recorded on `obj`, if any. */
export function revisionOf(obj: unknown): number | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const r = (obj as { [REVISION]?: unknown })[REVISION];
  return typeof r === 'number' ? r : undefined;
}

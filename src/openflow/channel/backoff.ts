/** The one backoff implementation lives in util (OVSDB's client uses it too). */
export { Backoff } from '../../util/backoff.js';

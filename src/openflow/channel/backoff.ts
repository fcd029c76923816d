/** The channel reconnects with the one backoff every wyvern component uses. */
export { Backoff } from '../../util/backoff.js';

import type { OfMessage } from '../openflow/index.js';
import { encodeMessage, OfpEncodeError } from '../openflow/index.js';
import type { FlowChannel } from './types.js';

/**
 * Applies one atomic bundle in one round trip (the commit follows the adds at once), setting aside alone any
 * message the codec or the switch refuses (`reject` with its key). A message the switch refuses on arrival
 * (the error names its index) is not part of the bundle, so the rest was committed without it:
 * `committedPartly` tells the caller to re-read the switch. If the commit failed, nothing was applied and the
 * bundle is retried without that message. Anything else fails (the caller re-reads and retries).
 */
export async function applyBundle(
  channel: FlowChannel,
  msgs: OfMessage[],
  keys: string[],
  reject: (key: string, err: unknown) => void,
): Promise<{ committedPartly: boolean }> {
  for (;;) {
    try {
      await channel.bundle(msgs, { atomic: true, ordered: true, pipelineCommit: true });
      return { committedPartly: false };
    } catch (err) {
      // A message the codec cannot encode fails the bundle before anything is sent. Only then is each
      // message encoded on its own to find it, so the common path encodes every flow once.
      if (err instanceof OfpEncodeError) {
        rejectUnencodable(msgs, keys, reject);
        if (msgs.length === 0) return { committedPartly: false };
        continue;
      }
      const index = (err as { index?: number }).index;
      if (typeof index !== 'number' || index < 0 || index >= msgs.length) throw err;
      reject(keys[index]!, err);
      if ((err as { committed?: boolean }).committed) return { committedPartly: true };
      msgs.splice(index, 1);
      keys.splice(index, 1);
      if (msgs.length === 0) return { committedPartly: false };
    }
  }
}

/** Removes (and rejects) every message the codec refuses, in place. */
function rejectUnencodable(msgs: OfMessage[], keys: string[], reject: (key: string, err: unknown) => void): void {
  for (let i = msgs.length - 1; i >= 0; i--) {
    try {
      encodeMessage(msgs[i]!);
    } catch (err) {
      reject(keys[i]!, err);
      msgs.splice(i, 1);
      keys.splice(i, 1);
    }
  }
}

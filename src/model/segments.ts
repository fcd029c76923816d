/**
 * Provider segments (issue 14): one network per (physnet, VLAN) and one flat network per physnet, cluster-wide. A
 * provider network's creation claims `segmentKey(physnet, vlan)` in its own transaction (compare: absent), so of two
 * concurrent creations of the same segment exactly one commits; its deletion releases the key in the same way.
 */
import type { Compare, Store, TxnOp } from '../store/types.js';
import { decodeNetwork } from './codec.js';
import { conflict } from './errors.js';
import { networkKey, segmentKey } from './keys.js';
import type { ProviderSegment } from './types.js';

/** "physnet1 VLAN 100" / "physnet1 (flat)". */
export const describeSegment = (s: ProviderSegment): string =>
  s.vlan === undefined ? `${s.physnet} (flat)` : `${s.physnet} VLAN ${s.vlan}`;

/**
 * The compare and put that claim a segment for network `networkId`; CONFLICT naming the network holding it when
 * it is taken (read now; a claim racing this one is caught by the compare, and the retry names its winner).
 */
export async function claimSegment(store: Store, seg: ProviderSegment, networkId: string): Promise<{ compares: Compare[]; ops: TxnOp[] }> {
  const key = segmentKey(seg.physnet, seg.vlan);
  const cur = await store.get(key);
  if (cur) {
    const holder = segmentHolder(cur.value) ?? '?';
    const n = await store.get(networkKey(holder));
    const name = n ? decodeNetwork(n.value).name : holder;
    throw conflict('provider', `${describeSegment(seg)} is already used by network ${name}`);
  }
  return { compares: [{ key, modRevision: 0 }], ops: [{ op: 'put', key, value: JSON.stringify({ networkId }) }] };
}

/** The network a segment key's value names (undefined when it names none). */
export function segmentHolder(value: string): string | undefined {
  return (JSON.parse(value) as { networkId?: string }).networkId;
}

export const releaseSegment = (seg: ProviderSegment | undefined): TxnOp[] =>
  seg === undefined ? [] : [{ op: 'delete', key: segmentKey(seg.physnet, seg.vlan) }];

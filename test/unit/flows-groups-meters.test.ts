/**
 * Groups and meters as the flow manager writes and reads them: the messages it builds, as ovs-ofctl ofp-print
 * reads them, and signatures that call a declared object equal to the same object as OVS 3.1 reports it
 * (bucket defaults filled in, output max_len 0, a burst size of the switch's own choosing).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  groupFromSwitch,
  groupKind,
  meterFromSwitch,
  meterKind,
  type DesiredGroup,
  type DesiredMeter,
} from '../../src/flows/groups-meters.js';
import { encodeMessage } from '../../src/openflow/index.js';

const print = (m: Parameters<typeof encodeMessage>[0]) =>
  execFileSync('ovs-ofctl', ['ofp-print', encodeMessage(m).toString('hex')], { encoding: 'utf8' }).trim();
const group: DesiredGroup = {
  groupId: 7,
  type: 'all',
  buckets: [{ actions: [{ type: 'output', port: 1 }] }, { actions: [{ type: 'output', port: 2 }] }],
};
const meter: DesiredMeter = { meterId: 3, bands: [{ type: 'drop', rate: 1000, burstSize: 0 }] };

describe('group and meter messages (oracle: ovs-ofctl ofp-print)', () => {
  it('GROUP_MOD add, modify and delete', () => {
    expect(print(groupKind.mod('add', group))).toContain('ADD group_id=7,type=all,bucket=actions=output:1,bucket=actions=output:2');
    expect(print(groupKind.mod('modify', group))).toContain('MOD group_id=7,type=all,bucket=actions=output:1,bucket=actions=output:2');
    expect(print(groupKind.mod('delete', { id: 7 }))).toContain('DEL group_id=7');
  });

  it('METER_MOD add, modify and delete (kbps by default; burst and stats on request)', () => {
    expect(print(meterKind.mod('add', meter))).toMatch(/ADD meter=3 kbps bands=\s*type=drop rate=1000/);
    expect(
      print(
        meterKind.mod('modify', { ...meter, pktps: true, burst: true, stats: true, bands: [{ type: 'drop', rate: 10, burstSize: 5 }] }),
      ),
    ).toMatch(/MOD meter=3 pktps burst stats bands=\s*type=drop rate=10 burst_size=5/);
    expect(print(meterKind.mod('delete', { id: 3 }))).toContain('DEL meter=3');
  });
});

describe('signatures: declared == as the switch reports it', () => {
  it('a group read back with bucket defaults and output max_len 0', () => {
    const onSwitch = groupFromSwitch({
      groupType: 0,
      groupId: 7,
      buckets: [
        { weight: 0, watchPort: 0xffffffff, watchGroup: 0xffffffff, actions: [{ type: 'output', port: 1, maxLen: 0 }] },
        { weight: 0, watchPort: 0xffffffff, watchGroup: 0xffffffff, actions: [{ type: 'output', port: 2, maxLen: 0 }] },
      ],
    });
    expect(groupKind.signature(onSwitch)).toBe(groupKind.signature(group));
    expect(groupKind.signature({ ...group, type: 'select' })).not.toBe(groupKind.signature(group));
  });

  it('a meter without OFPMF_BURST read back with the burst size OVS chose; with BURST the size counts', () => {
    expect(meterKind.signature(meterFromSwitch({ flags: 1, meterId: 3, bands: [{ type: 'drop', rate: 1000, burstSize: 1000 }] }))).toBe(
      meterKind.signature(meter),
    );
    const burst: DesiredMeter = { ...meter, burst: true, bands: [{ type: 'drop', rate: 1000, burstSize: 50 }] };
    expect(
      meterKind.signature(meterFromSwitch({ flags: 1 | 4, meterId: 3, bands: [{ type: 'drop', rate: 1000, burstSize: 60 }] })),
    ).not.toBe(meterKind.signature(burst));
    expect(meterKind.signature({ ...meter, bands: [{ type: 'drop', rate: 2000, burstSize: 0 }] })).not.toBe(meterKind.signature(meter));
  });
});

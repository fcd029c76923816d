import { describe, expect, it } from 'vitest';
import { icmpFlag, portFlag, protoFlag, ruleBody } from '../../src/cli/sg.js';
import { addSgQos, SG_QOS_CLEAR_FLAGS, SG_QOS_FLAGS } from '../../src/cli/port-flags.js';
import { parse, UsageError } from '../../src/cli/common.js';

describe('wyvern sg rule add flags', () => {
  it('--port P or P-Q, --icmp-type T or T/C, --proto names and numbers', () => {
    expect(portFlag('80')).toEqual({ portMin: 80, portMax: 80 });
    expect(portFlag('8000-8100')).toEqual({ portMin: 8000, portMax: 8100 });
    expect(() => portFlag('80-')).toThrow(UsageError);
    expect(() => portFlag('http')).toThrow(UsageError);
    expect(icmpFlag('8')).toEqual({ icmpType: 8 });
    expect(icmpFlag('8/0')).toEqual({ icmpType: 8, icmpCode: 0 });
    expect(() => icmpFlag('8/')).toThrow(UsageError);
    expect(protoFlag('47')).toBe(47);
    expect(protoFlag('TCP')).toBe('tcp');
  });

  it('builds the request body; direction required; one remote kind', () => {
    const opts = {
      direction: { type: 'string' },
      proto: { type: 'string' },
      port: { type: 'string' },
      'remote-group': { type: 'string' },
      'remote-cidr': { type: 'string' },
    } as const;
    expect(ruleBody(parse(['--direction', 'ingress', '--proto', 'udp', '--port', '53', '--remote-group', 'db'], opts))).toEqual({
      direction: 'ingress',
      protocol: 'udp',
      portMin: 53,
      portMax: 53,
      remoteGroup: 'db',
    });
    expect(() => ruleBody(parse(['--proto', 'udp'], opts))).toThrow(/--direction is required/);
    expect(() => ruleBody(parse(['--direction', 'egress', '--remote-group', 'db', '--remote-cidr', '10.0.0.0/8'], opts))).toThrow(
      /exclude each other/,
    );
  });
});

describe('wyvern port --sg and rate flags', () => {
  const body = (argv: string[]) => {
    const b: Record<string, unknown> = {};
    addSgQos(parse(argv, { ...SG_QOS_FLAGS, ...SG_QOS_CLEAR_FLAGS }), b, 'usage');
    return b;
  };
  it('maps flags to securityGroups and qos', () => {
    expect(body([])).toEqual({});
    expect(body(['--sg', 'a', '--sg', 'b'])).toEqual({ securityGroups: ['a', 'b'] });
    expect(body(['--no-sg'])).toEqual({ securityGroups: [] });
    expect(body(['--ingress-rate', '1000', '--ingress-burst', '100', '--egress-rate', '5'])).toEqual({
      qos: { ingressRateKbps: 1000, ingressBurstKb: 100, egressRateKbps: 5 },
    });
    expect(body(['--no-qos'])).toEqual({ qos: null });
  });
  it('refuses contradictions and bursts without rates', () => {
    expect(() => body(['--sg', 'a', '--no-sg'])).toThrow(UsageError);
    expect(() => body(['--egress-burst', '5'])).toThrow(/--egress-burst needs --egress-rate/);
    expect(() => body(['--ingress-burst', '5'])).toThrow(/--ingress-burst needs --ingress-rate/);
    expect(() => body(['--ingress-rate', '5', '--no-qos'])).toThrow(UsageError);
    expect(() => body(['--ingress-rate', '1.5'])).toThrow(/positive integer/);
  });
});

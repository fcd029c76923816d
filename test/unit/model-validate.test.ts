/**
 * Every write rule of src/model/validate.ts (shared by the API, the CLI and topology import): for each,
 * a refused value naming its field and an accepted neighbour, so a loosened or over-tightened rule fails.
 */
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../src/model/errors.js';
import { SERVER_OWNED_OPTIONS } from '../../src/model/dhcp-owned.js';
import {
  parseNetworkInput,
  parsePortInput,
  parseRouteInput,
  parseRouterInput,
  parseRouterPatch,
  parseSubnetInput,
  MAX_LEASE,
  MIN_LEASE,
} from '../../src/model/validate.js';

function refused(fn: () => unknown, field: string, msg?: RegExp): ModelError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a refusal on ${field}`).toBeInstanceOf(ModelError);
  const e = err as ModelError;
  expect(e.code).toBe('INVALID');
  expect(e.field).toBe(field);
  if (msg) expect(e.message).toMatch(msg);
  return e;
}

const subnet = (extra: Record<string, unknown>) => ({ name: 's', network: 'n', cidr: '10.0.0.0/24', ...extra });
const port = (extra: Record<string, unknown>) => ({ name: 'p', network: 'n', ...extra });

describe('names', () => {
  const bad = ['../../evil/net', 'evil/net', 'net\u{1F409}', 'vm\n1', 'a b', '.hidden', '-x', 'x'.repeat(64), 'é', 'tab\there', ''];
  const good = ['blue', 'Blue-net.1_a:x', '0', 'x'.repeat(63)];
  it.each([
    ['network', (name: unknown) => parseNetworkInput({ name })],
    ['subnet', (name: unknown) => parseSubnetInput(subnet({ name }))],
    ['port', (name: unknown) => parsePortInput(port({ name }))],
    ['router', (name: unknown) => parseRouterInput({ name })],
  ])('%s names: refused outside [A-Za-z0-9][A-Za-z0-9._:-]{0,62}, accepted inside', (_kind, parse) => {
    for (const n of bad) refused(() => parse(n), 'name', n === '' ? /required/ : /1-63 characters/);
    for (const n of good) expect(() => parse(n)).not.toThrow();
    refused(() => parse('6f1c2a40-9e77-4c51-8d0f-0a3b5c7d9e11'), 'name', /UUID/);
  });
});

describe('subnets', () => {
  it('must be unicast: 0/8, loopback, multicast, class E and broadcast are refused; their neighbours accepted', () => {
    const cases: [string, RegExp][] = [
      ['0.0.0.0/8', /this host/],
      ['0.1.0.0/16', /this host/],
      ['127.0.0.0/8', /loopback/],
      ['127.5.0.0/16', /loopback/],
      ['224.0.0.0/24', /multicast/],
      ['239.255.255.0/24', /multicast/],
      ['240.0.0.0/24', /class E/],
      ['255.255.255.0/24', /broadcast/],
    ];
    for (const [cidr, why] of cases) refused(() => parseSubnetInput(subnet({ cidr })), 'cidr', why);
    for (const cidr of ['1.0.0.0/24', '126.255.255.0/24', '128.0.0.0/24', '223.255.255.0/24', '10.0.0.0/8']) {
      expect(parseSubnetInput(subnet({ cidr })).cidr).toBe(cidr);
    }
  });

  it('gateway: a usable host of the subnet (not its network or broadcast address, not outside)', () => {
    refused(() => parseSubnetInput(subnet({ cidr: '10.78.0.0/24', gatewayIp: '10.78.0.0' })), 'gatewayIp', /network address/);
    refused(() => parseSubnetInput(subnet({ gatewayIp: '10.0.0.255' })), 'gatewayIp', /broadcast address/);
    refused(() => parseSubnetInput(subnet({ gatewayIp: '10.0.1.1' })), 'gatewayIp', /outside/);
    refused(() => parseSubnetInput(subnet({ gatewayIp: 'not-an-ip' })), 'gatewayIp', /invalid IPv4/);
    expect(parseSubnetInput(subnet({ gatewayIp: '10.0.0.1' })).gatewayIp).toBe('10.0.0.1');
    expect(parseSubnetInput(subnet({ gatewayIp: '10.0.0.254' })).gatewayIp).toBe('10.0.0.254');
  });

  it('DNS servers: valid unicast addresses only', () => {
    for (const d of ['not-an-ip', '10.0.0.256', '0.0.0.0', '127.0.0.53', '224.0.0.251', '255.255.255.255']) {
      refused(() => parseSubnetInput(subnet({ dnsServers: ['10.0.0.53', d] })), 'dnsServers[1]');
    }
    expect(parseSubnetInput(subnet({ dnsServers: ['10.0.0.53', '8.8.8.8'] })).dnsServers).toEqual(['10.0.0.53', '8.8.8.8']);
  });

  it('host routes: destination a CIDR, nexthop a usable host of the subnet', () => {
    refused(
      () => parseSubnetInput(subnet({ hostRoutes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.0' }] })),
      'hostRoutes[0].nexthop',
      /network address/,
    );
    refused(
      () => parseSubnetInput(subnet({ hostRoutes: [{ destination: '192.168.0.0/16', nexthop: '10.9.0.1' }] })),
      'hostRoutes[0].nexthop',
      /outside/,
    );
    refused(() => parseSubnetInput(subnet({ hostRoutes: [{ destination: 'x', nexthop: '10.0.0.9' }] })), 'hostRoutes[0].destination');
    expect(parseSubnetInput(subnet({ hostRoutes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.9' }] })).hostRoutes).toHaveLength(1);
  });

  it(`lease time: ${MIN_LEASE}..${MAX_LEASE} seconds`, () => {
    for (const leaseTime of [0, 1, MIN_LEASE - 1, MAX_LEASE + 1, 1.5, '600'])
      refused(() => parseSubnetInput(subnet({ leaseTime })), 'leaseTime');
    expect(parseSubnetInput(subnet({ leaseTime: MIN_LEASE })).leaseTime).toBe(60);
    expect(parseSubnetInput(subnet({ leaseTime: MAX_LEASE })).leaseTime).toBe(MAX_LEASE);
  });

  it('DHCP options the server writes itself are refused, each with the reason; others accepted', () => {
    // At least these, whatever the list grows to.
    for (const code of [0, 1, 3, 6, 12, 15, 26, 28, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 61, 82, 121, 249, 255]) {
      expect(SERVER_OWNED_OPTIONS.has(code), `option ${code}`).toBe(true);
      const e = refused(
        () =>
          parseSubnetInput(
            subnet({
              dhcpOptions: [
                { code: 42, value: '0a000001' },
                { code, value: '01' },
              ],
            }),
          ),
        'dhcpOptions[1].code',
      );
      expect(e.message).toMatch(new RegExp(`^option ${code} \\(.*cannot be given in dhcpOptions`));
    }
    refused(() => parseSubnetInput(subnet({ dhcpOptions: [{ code: 51, value: '00000001' }] })), 'dhcpOptions[0].code', /leaseTime/);
    refused(
      () =>
        parseSubnetInput(
          subnet({
            dhcpOptions: [
              { code: 42, value: '0a' },
              { code: 42, value: '0b' },
            ],
          }),
        ),
      'dhcpOptions[1].code',
      /twice/,
    );
    refused(() => parseSubnetInput(subnet({ dhcpOptions: [{ code: 42, value: 'zz' }] })), 'dhcpOptions[0].value');
    const ok = parseSubnetInput(
      subnet({
        dhcpOptions: [
          { code: 42, value: '0A000001' },
          { code: 66, value: '74667470' },
          { code: 150, value: '0a000002' },
        ],
      }),
    );
    expect(ok.dhcpOptions.map((o) => o.code)).toEqual([42, 66, 150]);
  });

  it('reports every problem of a body at once, each with its field', () => {
    const e = refused(
      () =>
        parseSubnetInput({
          name: 'bad name',
          network: 'n',
          cidr: '224.0.0.0/24',
          dnsServers: ['x'],
          leaseTime: 1,
          dhcpOptions: [{ code: 53, value: '01' }],
          colour: 'red',
        }),
      'colour',
    );
    expect(e.problems?.map((p) => p.field)).toEqual(['colour', 'name', 'cidr', 'dnsServers[0]', 'leaseTime', 'dhcpOptions[0].code']);
    expect(e.message).toMatch(/^request has 6 problems: /);
  });
});

describe('ports: allowed address pairs', () => {
  it('0.0.0.0/0, too-wide, non-unicast, host-bit and unparsable addresses are refused, saying what is accepted', () => {
    const cases: [string, RegExp][] = [
      ['0.0.0.0/0', /too wide.*portSecurity/],
      ['10.0.0.0/7', /too wide/],
      ['not-an-ip', /unicast IPv4 address or a CIDR/],
      ['10.0.0.1/24', /host bits/],
      ['10.0.0.0/33', /unicast IPv4 address or a CIDR/],
      ['224.0.0.1', /not a unicast/],
      ['127.0.0.0/8', /not unicast/],
      ['0.0.0.0', /not a unicast/],
      ['255.255.255.255', /not a unicast/],
    ];
    for (const [ip, why] of cases) refused(() => parsePortInput(port({ allowedAddressPairs: [{ ip }] })), 'allowedAddressPairs[0].ip', why);
    refused(() => parsePortInput(port({ allowedAddressPairs: [{ ip: 5 }] })), 'allowedAddressPairs[0].ip');
  });
  it('a unicast address or a /8../32 CIDR is accepted', () => {
    const ips = ['10.0.0.5', '10.0.0.0/8', '10.0.0.4/30', '192.168.1.7/32'];
    expect(parsePortInput(port({ allowedAddressPairs: ips.map((ip) => ({ ip })) })).allowedAddressPairs.map((x) => x.ip)).toEqual(ips);
  });
});

describe('router routes', () => {
  it('nexthop must be a unicast address; the destination any CIDR (0.0.0.0/0 is a default route)', () => {
    refused(() => parseRouteInput({ cidr: '0.0.0.0/0', nexthop: '224.0.0.1' }), 'nexthop', /not a unicast/);
    refused(() => parseRouteInput({ cidr: '10.0.0.1/8', nexthop: '10.0.0.1' }), 'cidr', /host bits/);
    expect(parseRouteInput({ cidr: '0.0.0.0/0', nexthop: '10.0.0.254' })).toEqual({ cidr: '0.0.0.0/0', nexthop: '10.0.0.254' });
  });
});

describe('router update (PATCH)', () => {
  it('only mode, and only a valid one', () => {
    refused(() => parseRouterPatch({ mode: 'fast' }), 'mode');
    refused(() => parseRouterPatch({ mode: 'reactive', name: 'evil/name' }), 'name', /cannot be changed/);
    refused(() => parseRouterPatch([]), 'body');
    expect(parseRouterPatch({ mode: 'reactive' })).toEqual({ mode: 'reactive' });
  });
});

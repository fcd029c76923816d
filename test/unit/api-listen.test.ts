import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_API_URL, DEFAULT_LISTEN, formatListen, parseListen } from '../../src/api/listen.js';
import { loadAgentConfig, ConfigError } from '../../src/agent/config.js';
import { VERSION } from '../../src/version.js';

describe('listen addresses as users type them', () => {
  it.each([
    ['127.0.0.1:7676', { kind: 'tcp', host: '127.0.0.1', port: 7676 }],
    ['tcp:127.0.0.1:7676', { kind: 'tcp', host: '127.0.0.1', port: 7676 }],
    ['0.0.0.0:0', { kind: 'tcp', host: '0.0.0.0', port: 0 }],
    ['localhost:8080', { kind: 'tcp', host: 'localhost', port: 8080 }],
    ['hv1.example.org:7676', { kind: 'tcp', host: 'hv1.example.org', port: 7676 }],
    ['[::1]:7676', { kind: 'tcp', host: '::1', port: 7676 }],
    ['tcp:[::]:7676', { kind: 'tcp', host: '::', port: 7676 }],
    ['tcp:[fe80::1]:65535', { kind: 'tcp', host: 'fe80::1', port: 65535 }],
    [' 127.0.0.1:7676 ', { kind: 'tcp', host: '127.0.0.1', port: 7676 }],
    ['unix:/run/wyvern/api.sock', { kind: 'unix', path: '/run/wyvern/api.sock' }],
  ])('%s', (input, want) => {
    expect(parseListen(input)).toEqual(want);
  });

  it.each([
    ['', /expected HOST:PORT/],
    ['none', /switches the agent's API off/],
    ['7676', /no port/],
    ['127.0.0.1', /no port/],
    ['127.0.0.1:', /no port/],
    [':7676', /no host/],
    ['127.0.0.1:http', /port "http" is not a number/],
    ['127.0.0.1:65536', /port 65536 out of range/],
    ['127.0.0.1:123456', /is not a number/],
    ['::1:7676', /IPv6 address goes in brackets/],
    ['[::1]', /expected/],
    ['[not-v6]:7676', /"not-v6" is not a host name or address/],
    ['999.1.1.1:7676', /is not a host name or address/],
    ['bad_host!:7676', /is not a host name or address/],
    ['unix:', /unix: needs a socket path/],
    ['/run/wyvern.sock', /written unix:\/run\/wyvern.sock/],
    ['http://127.0.0.1:7676', /a URL is not a listen address/],
    ['udp:127.0.0.1:7676', /unknown scheme udp:/],
    ['ssl:127.0.0.1:7676', /unknown scheme ssl:/],
  ])('refuses %j with a reason', (input, why) => {
    expect(() => parseListen(input)).toThrow(why);
  });

  it('formats back to the canonical form', () => {
    for (const s of ['tcp:127.0.0.1:7676', 'tcp:[::1]:1', 'unix:/x']) expect(formatListen(parseListen(s))).toBe(s);
  });

  it('one default port for the agent, standalone API and CLI', () => {
    expect(DEFAULT_LISTEN).toBe('tcp:127.0.0.1:7676');
    expect(DEFAULT_API_URL).toBe('http://127.0.0.1:7676');
    expect(loadAgentConfig(['--tunnel-ip', '192.0.2.1'], {}, 'hv1').apiListen).toBe(DEFAULT_LISTEN);
  });

  it('the agent refuses a bad --api-listen at start, and takes HOST:PORT or none', () => {
    const cfg = (listen: string) => loadAgentConfig(['--tunnel-ip', '192.0.2.1', '--api-listen', listen], {}, 'hv1');
    expect(() => cfg('127.0.0.1')).toThrow(ConfigError);
    expect(() => cfg('127.0.0.1')).toThrow(/api-listen: invalid listen address "127.0.0.1": no port/);
    expect(cfg('127.0.0.1:7000').apiListen).toBe('127.0.0.1:7000');
    expect(cfg('none').apiListen).toBe('none');
  });

  it('the version is the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});

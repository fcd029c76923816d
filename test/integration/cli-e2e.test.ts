import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { registerChassis } from '../../src/model/index.js';
import { Scrape } from '../helpers/prom.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const MAIN = join(ROOT, 'src/cli/main.ts');

interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI as a process. */
function wyvern(args: string[], env: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve) => {
    execFile(TSX, [MAIN, ...args], { env: { ...process.env, ...env }, cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('wyvern CLI end to end', () => {
  let store: Store;
  let server: ApiServer;
  let dir: string;
  let api: string[];
  beforeAll(async () => {
    store = await openStore('memory:');
    dir = await mkdtemp(join(tmpdir(), 'wyvern-cli-'));
    server = await startApiServer({ store, listen: `unix:${join(dir, 'api.sock')}` });
    api = ['--api', server.url];
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('builds a topology with human output, then lists, shows and deletes', async () => {
    let r = await wyvern(['network', 'create', 'blue', '--mtu', '1400', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created network blue/);
    r = await wyvern([
      'subnet',
      'create',
      'blue-a',
      '--network',
      'blue',
      '--cidr',
      '10.0.0.0/24',
      '--dns',
      '8.8.8.8,1.1.1.1',
      '--domain',
      'blue.test',
      '--route',
      '192.168.0.0/16=10.0.0.254',
      '--lease',
      '600',
      ...api,
    ]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['port', 'create', 'vm1', '--network', 'blue', ...api]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern([
      'port',
      'create',
      'vm2',
      '--network',
      'blue',
      '--ip',
      '10.0.0.77',
      '--mac',
      '02:aa:00:00:00:02',
      '--no-port-security',
      ...api,
    ]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['router', 'create', 'r1', '--mode', 'reactive', ...api]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['router', 'attach', 'r1', 'blue-a', ...api]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['router', 'route', 'add', 'r1', '172.16.0.0/12', '10.0.0.9', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/172\.16\.0\.0\/12 via 10\.0\.0\.9/);

    r = await wyvern(['port', 'list', ...api]);
    expect(r.stdout).toMatch(/^NAME\s+NETWORK\s+MAC\s+IPS\s+CHASSIS/);
    expect(r.stdout).toMatch(/vm1\s+blue\s+\S+\s+10\.0\.0\.2\s+-/);
    expect(r.stdout).toMatch(/vm2\s+blue\s+02:aa:00:00:00:02\s+10\.0\.0\.77/);
    r = await wyvern(['subnet', 'show', 'blue-a', ...api]);
    expect(r.stdout).toMatch(/gatewayIp\s+10\.0\.0\.1/);
    expect(r.stdout).toMatch(/dnsServers\s+8\.8\.8\.8, 1\.1\.1\.1/);
    r = await wyvern(['--json', 'router', 'show', 'r1', ...api]);
    expect(JSON.parse(r.stdout)).toMatchObject({
      name: 'r1',
      mode: 'reactive',
      interfaces: [{ ip: '10.0.0.1' }],
      routes: [{ cidr: '172.16.0.0/12' }],
    });
    r = await wyvern(['network', 'list', '--json'], { WYVERN_API: server.url });
    expect(JSON.parse(r.stdout)).toMatchObject([{ name: 'blue', mtu: 1400, tunnelKey: 1 }]);

    r = await wyvern(['network', 'delete', 'blue', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/still has 2 port\(s\).*HTTP 409 CONFLICT/);
    r = await wyvern(['router', 'route', 'delete', 'r1', '172.16.0.0/12', ...api]);
    expect(r.code, r.stderr).toBe(0);
    for (const args of [
      ['router', 'delete', 'r1'],
      ['port', 'delete', 'vm1'],
      ['port', 'delete', 'vm2'],
      ['subnet', 'delete', 'blue-a'],
      ['network', 'delete', 'blue'],
    ]) {
      r = await wyvern([...args, ...api]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^deleted /);
    }
    r = await wyvern(['network', 'list', ...api]);
    expect(r.stdout.trim()).toBe('(none)');
  });

  it('reports API errors with the field and exits non-zero', async () => {
    let r = await wyvern(['network', 'create', 'n1', ...api]);
    expect(r.code).toBe(0);
    r = await wyvern(['subnet', 'create', 's1', '--network', 'n1', '--cidr', '10.0.0.1/24', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/host bits are set.*\[field: cidr\].*HTTP 400 INVALID/);
    r = await wyvern(['network', 'show', 'nope', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/network nope not found/);
    r = await wyvern(['network', 'create', 'n1', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HTTP 409/);
    r = await wyvern(['network', 'list', '--api', `unix:${join(dir, 'missing.sock')}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the wyvern API/);
  });

  it('usage errors exit 2; --help works everywhere', async () => {
    let r = await wyvern(['network', 'create', 'x', '--bogus', ...api]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--bogus/);
    r = await wyvern(['frobnicate']);
    expect(r.code).toBe(2);
    r = await wyvern(['subnet', 'create', 's', ...api]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--network is required/);
    r = await wyvern(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/network\s+create, list/);
    for (const cmd of ['network', 'subnet', 'port', 'router', 'chassis', 'topology', 'api']) {
      r = await wyvern([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/usage:/);
    }
  });

  it('port create --id: the port takes the hypervisor VIF id; a malformed id or one in use exits 1 naming the field', async () => {
    await wyvern(['network', 'create', 'hv', ...api]);
    await wyvern(['subnet', 'create', 'hv-s', '--network', 'hv', '--cidr', '10.9.0.0/24', ...api]);
    const id = 'A3C1E0D2-5B4F-4E6A-9C8B-7D6E5F4A3B2C';
    let r = await wyvern(['port', 'create', 'vif-p', '--network', 'hv', '--id', id, '--mac', '52:54:00:12:34:56', '--json', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: id.toLowerCase(), name: 'vif-p', mac: '52:54:00:12:34:56' });
    r = await wyvern(['port', 'show', id.toLowerCase(), '--json', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).name).toBe('vif-p');
    r = await wyvern(['port', 'create', 'vif-q', '--network', 'hv', '--id', id, ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already used');
    r = await wyvern(['port', 'create', 'vif-q', '--network', 'hv', '--id', 'vnet0', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('id must be a UUID');
    expect((await wyvern(['port', 'create', '--help'])).stdout).toContain('--id UUID');
  });

  it('port update: replaces and clears the allowed pairs, toggles port security, prints the port; usage errors exit 2', async () => {
    await wyvern(['network', 'create', 'upd', ...api]);
    await wyvern(['subnet', 'create', 'upd-s', '--network', 'upd', '--cidr', '10.8.0.0/24', ...api]);
    let r = await wyvern(['port', 'create', 'upd-p', '--network', 'upd', ...api]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern([
      'port',
      'update',
      'upd-p',
      '--allowed-address',
      '10.8.0.100',
      '--allowed-address',
      '10.8.0.64/30=02:00:00:00:00:01',
      ...api,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^name\s+upd-p$/m);
    expect(r.stdout).toMatch(/^allowedAddressPairs\s+ip=10\.8\.0\.100, ip=10\.8\.0\.64\/30 mac=02:00:00:00:00:01$/m);
    expect(r.stdout).toMatch(/^portSecurity\s+true$/m);
    r = await wyvern(['port', 'update', 'upd-p', '--no-port-security', '--json', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      name: 'upd-p',
      portSecurity: false,
      allowedAddressPairs: [{ ip: '10.8.0.100' }, { ip: '10.8.0.64/30' }],
    });
    r = await wyvern(['port', 'update', 'upd-p', '--no-allowed-address', '--port-security', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^allowedAddressPairs\s+-$/m);
    expect(r.stdout).toMatch(/^portSecurity\s+true$/m);
    const show = await wyvern(['port', 'show', 'upd-p', ...api]);
    expect(show.stdout).toBe(r.stdout); // printed like port show
    // Refused by the API: exit 1, the field named, nothing changed.
    r = await wyvern(['port', 'update', 'upd-p', '--allowed-address', '0.0.0.0/0', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/too wide.*\[field: allowedAddressPairs\[0\]\.ip\].*HTTP 400 INVALID/);
    r = await wyvern(['port', 'update', 'ghost', '--no-port-security', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HTTP 404/);
    // Usage errors: exit 2 with the command's usage.
    for (const args of [
      ['upd-p'],
      [],
      ['upd-p', '--port-security', '--no-port-security'],
      ['upd-p', '--allowed-address', '10.8.0.9', '--no-allowed-address'],
      ['upd-p', '--allowed-address', '=02:00:00:00:00:01'],
      ['upd-p', '--allowed-address'],
      ['upd-p', '--bogus'],
      ['upd-p', 'extra', '--no-port-security'],
    ]) {
      r = await wyvern(['port', 'update', ...args, ...api]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/usage:[\s\S]*wyvern port update NAME/);
    }
    expect((await wyvern(['port', 'show', 'upd-p', ...api])).stdout).toBe(show.stdout);
  });

  it('--if-match: show prints the revision; a write at an older one fails naming it and changes nothing; at the current one it is made', async () => {
    await wyvern(['network', 'create', 'cond', ...api]);
    await wyvern(['subnet', 'create', 'cond-s', '--network', 'cond', '--cidr', '10.9.0.0/24', ...api]);
    await wyvern(['port', 'create', 'cond-p', '--network', 'cond', ...api]);
    const revisionOf = (out: string): string => /^revision\s+([1-9][0-9]*)$/m.exec(out)?.[1] ?? 'none';
    const first = await wyvern(['port', 'show', 'cond-p', ...api]);
    const rev = revisionOf(first.stdout);
    expect(rev).not.toBe('none');
    let r = await wyvern(['port', 'update', 'cond-p', '--no-port-security', '--if-match', rev, ...api]);
    expect(r.code, r.stderr).toBe(0);
    const next = revisionOf(r.stdout);
    expect(Number(next)).toBeGreaterThan(Number(rev));
    // The older revision again: refused, exit 1, both revisions named; the port as it was.
    r = await wyvern(['port', 'update', 'cond-p', '--port-security', '--if-match', rev, ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port cond-p is at revision ${next}, not the one If-Match names ("${rev}")`);
    expect(r.stderr).toMatch(/HTTP 412 PRECONDITION_FAILED/);
    expect(r.stderr).not.toMatch(/\n\s*usage:/);
    const still = await wyvern(['port', 'show', 'cond-p', ...api]);
    expect(still.stdout).toMatch(/^portSecurity\s+false$/m);
    expect(revisionOf(still.stdout)).toBe(next);
    // The router's sub-resources and a delete take it too.
    r = await wyvern(['router', 'create', 'cond-r', ...api]);
    const r0 = revisionOf(r.stdout);
    r = await wyvern(['router', 'attach', 'cond-r', 'cond-s', '--if-match', r0, ...api]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['router', 'mode', 'cond-r', 'reactive', '--if-match', r0, ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/router cond-r is at revision/);
    r = await wyvern(['port', 'delete', 'cond-p', '--if-match', rev, ...api]);
    expect(r.code).toBe(1);
    r = await wyvern(['port', 'delete', 'cond-p', '--if-match', '*', ...api]);
    expect(r.code, r.stderr).toBe(0);
    // Not a revision: a usage error, nothing sent.
    r = await wyvern(['router', 'mode', 'cond-r', 'reactive', '--if-match', 'latest', ...api]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--if-match takes the revision `show` printed \(e\.g\. 1234\) or \*, not "latest"/);
    // Where it would change nothing (a read) or the API takes no condition (a creation, a chassis): an unknown option.
    for (const args of [
      ['port', 'show', 'cond-r', '--if-match', r0],
      ['router', 'list', '--if-match', r0],
      ['port', 'create', 'cond-q', '--network', 'cond', '--if-match', r0],
      ['chassis', 'delete', 'hv9', '--if-match', r0],
    ]) {
      r = await wyvern([...args, ...api]);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
      expect(r.stderr).toMatch(/--if-match/);
    }
    expect((await wyvern(['router', 'show', 'cond-r', ...api])).stdout).toMatch(/^mode\s+proactive$/m);
  });

  it('topology export > file, import is idempotent', async () => {
    await wyvern(['network', 'create', 'exp', ...api]);
    await wyvern(['subnet', 'create', 'exp-s', '--network', 'exp', '--cidr', '10.7.0.0/24', ...api]);
    await wyvern(['port', 'create', 'exp-p', '--network', 'exp', ...api]);
    const r = await wyvern(['topology', 'export', ...api]);
    expect(r.code, r.stderr).toBe(0);
    const file = join(dir, 'topo.json');
    await writeFile(file, r.stdout);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ format: 'wyvern-topology', version: 1 });
    let i = await wyvern(['topology', 'import', file, ...api]);
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toMatch(/nothing to do/);
    await wyvern(['port', 'delete', 'exp-p', ...api]);
    i = await wyvern(['topology', 'import', file, '--json', ...api]);
    // The port, its name and id claims, its port key, its address and MAC claims.
    expect(JSON.parse(i.stdout)).toMatchObject({ written: 6 });
    expect((await wyvern(['topology', 'export', ...api])).stdout).toBe(r.stdout);

    // A bad file: refused whole, one stderr line per problem (field: object: why), exit 1, nothing written.
    const doc = JSON.parse(r.stdout) as {
      subnets: { name: string; leaseTime: number; dhcpOptions: unknown[] }[];
      ports: { name: string }[];
    };
    const s = doc.subnets.find((x) => x.name === 'exp-s')!;
    s.leaseTime = 1;
    s.dhcpOptions = [{ code: 54, value: '0a070001' }];
    doc.ports.find((x) => x.name === 'exp-p')!.name = 'exp/p';
    await wyvern(['port', 'delete', 'exp-p', ...api]);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify(doc));
    i = await wyvern(['topology', 'import', bad, ...api]);
    expect(i.code).toBe(1);
    expect(i.stderr).toMatch(/^wyvern: refused, 3 problems \(HTTP 400 INVALID\):\n/);
    expect(i.stderr).toMatch(/^ {2}subnets\[\d+\]\.leaseTime: subnet "exp-s": leaseTime must be an integer in 60\.\.31536000/m);
    expect(i.stderr).toMatch(/^ {2}subnets\[\d+\]\.dhcpOptions\[0\]\.code: subnet "exp-s": option 54 \(server identifier\)/m);
    expect(i.stderr).toMatch(/^ {2}ports\[\d+\]\.name: port "exp\/p": invalid name/m);
    expect((await wyvern(['port', 'show', 'exp-p', ...api])).code).toBe(1);
  });

  it('wyvern api --store memory: serves standalone until SIGTERM', async () => {
    const sock = join(dir, 'standalone.sock');
    const child = spawn(TSX, [MAIN, 'api', '--store', 'memory:', '--listen', `unix:${sock}`], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`wyvern api did not start: ${err}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('listening on')) {
            clearTimeout(t);
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(t);
          reject(new Error(`wyvern api exited ${code}: ${err}`));
        });
      });
      expect(out).toContain(`unix:${sock}`);
      const r = await wyvern(['network', 'create', 'standalone', '--api', `unix:${sock}`]);
      expect(r.code, r.stderr).toBe(0);
      const off = await wyvern(['api', '--store', 'memory:', '--listen', 'tcp:0.0.0.0:0']);
      expect(off.code).toBe(1);
      expect(off.stderr).toMatch(/without a token/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
  });

  it('wyvern --version; wyvern api --listen takes HOST:PORT and serves /healthz, /readyz and /metrics', async () => {
    const v = await wyvern(['--version']);
    expect(v).toMatchObject({ code: 0, stdout: 'wyvern 0.1.0\n' });
    const bad = await wyvern(['api', '--store', 'memory:', '--listen', '127.0.0.1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid listen address "127.0.0.1": no port/);
    const child = spawn(TSX, [MAIN, 'api', '--store', 'memory:', '--listen', '127.0.0.1:0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error('wyvern api did not start')), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`wyvern api exited ${code}`)));
      });
      expect(await (await fetch(`${url}/healthz`)).text()).toBe('ok\n');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const m = await fetch(`${url}/metrics`);
      expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(new Scrape(await m.text()).family('wyvern_build_info').metrics[0]!.labels).toEqual({ version: '0.1.0', role: 'api' });
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
  });

  it('north-south: provider network, router gateway and a floating IP through the CLI', async () => {
    // A registered chassis reaching physnet1, as its agent writes it (a live key on a lease).
    await registerChassis(
      store,
      { name: 'gw1', tunnelIp: '172.31.9.9', encaps: ['vxlan'], version: '0.1.0', physnets: ['physnet1'] },
      await store.grantLease(60),
    );
    for (const args of [
      ['network', 'create', 'ns-ext', '--provider', 'physnet1', '--vlan', '100'],
      ['subnet', 'create', 'ns-ext-s', '--network', 'ns-ext', '--cidr', '198.51.100.0/24', '--gateway', '198.51.100.1', '--no-dhcp'],
      ['network', 'create', 'ns-in'],
      ['subnet', 'create', 'ns-in-a', '--network', 'ns-in', '--cidr', '10.9.0.0/24'],
      ['router', 'create', 'ns-r'],
      ['router', 'attach', 'ns-r', 'ns-in-a'],
      ['port', 'create', 'ns-vm', '--network', 'ns-in'],
    ]) {
      const r = await wyvern([...args, ...api]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    let r = await wyvern(['fip', 'create', '--network', 'ns-ext', '--port', 'ns-vm', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/port ns-vm has no router path to network ns-ext: no router has its gateway on ns-ext.*HTTP 409/);
    r = await wyvern(['router', 'gateway', 'set', 'ns-r', '--network', 'ns-ext', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ip\s+198\.51\.100\.2\n[\s\S]*chassis\s+gw1\n[\s\S]*active\s+none \(no live candidate\)/);
    r = await wyvern(['fip', 'create', '--network', 'ns-ext', '--port', 'ns-vm', '--json', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ip: '198.51.100.3', fixedIp: '10.9.0.2' });
    r = await wyvern(['fip', 'list', ...api]);
    expect(r.stdout).toMatch(/198\.51\.100\.3\s+ns-ext\s+ns-vm\s+10\.9\.0\.2\s+ns-r/);
    r = await wyvern(['port', 'delete', 'ns-vm', ...api]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['fip', 'list', ...api]);
    expect(r.stdout).toMatch(/198\.51\.100\.3\s+ns-ext\s+-\s+-\s+-/);
  });
});

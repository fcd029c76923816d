/**
 * `wyvern sandbox …`: simulated hypervisors for people and scripts. Each invocation loads the sandbox's state
 * from its run dir (<base>/<name>, base = $WYVERN_SANDBOX_DIR or /run/wyvern-sandbox), acts, and exits.
 */
import { spawn } from 'node:child_process';
import { ENCAPS, Sandbox, type Encap, type SandboxStatus } from '../sandbox/index.js';
import { restartAgent, savedAgentOptions, startAgents, stopAgent } from '../sandbox/agents.js';
import { parseFlags, UsageError } from '../util/args.js';

export interface CliIo {
  out(s: string): void;
  err(s: string): void;
}
const stdio: CliIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

const HELP: Record<string, string> = {
  main: `usage: wyvern sandbox [--name NAME] <command> …

commands:
  up --hosts N [--encap vxlan|geneve|gre] [--tunnels] [--physnet] [--agents --store URL]
                                                         start N simulated hypervisors (and their agents)
  vm add HOST VM --port-id ID [--mac M] [--ip CIDR [--gw IP]] [--dhcp] [--mtu N]
  vm del VM                                              remove a VM
  vm dhcp VM [--json]                                    run a DHCP client (busybox udhcpc) in the VM and apply the lease
  exec VM -- CMD…                                        run a command inside a VM
  host stop|start HOST                                   kill / restart a host's OVS (failure injection)
  host add [--store URL]                                 a new host joins (with an agent if the others have one)
  agent stop|start HOST [--kill] [--store URL]           stop (SIGTERM, or SIGKILL with --kill) / start a host's agent
  status [--json]                                        hosts, sockets, tunnel IPs, VMs
  down                                                   remove everything the sandbox made
  sweep [--prefix P]                                     remove leftovers of crashed test sandboxes

--name NAME selects the sandbox (default "default"); its run dir is $WYVERN_SANDBOX_DIR/NAME
(default /run/wyvern-sandbox/NAME). Every command accepts --help.
`,
  up: `usage: wyvern sandbox [--name NAME] up --hosts N [--encap vxlan|geneve|gre] [--tunnels] [--physnet] [--prefix P]
                                          [--agents --store URL [--no-lazy-sync]]
  --tunnels   also add flow-based tunnel ports to br-int (normally the agent does this)
  --physnet   a physical network: Linux bridge br-pn in the underlay namespace, OVS bridge br-ex on each host
              cabled to it (agents get --bridge-mapping physnet1:br-ex), an outside host 203.0.113.1/24 in
              namespace <prefix>-out (provider networks)
  --agents    start a wyvern agent for each host against the store URL (etcd://HOST:PORT; or WYVERN_STORE,
              which keeps a password off the command line)
`,
  agent: `usage: wyvern sandbox agent stop|start HOST [--kill] [--store URL]
`,
  vm: `usage: wyvern sandbox vm add HOST VM --port-id ID [--mac M] [--ip CIDR [--gw IP]] [--dhcp] [--mtu N]
       wyvern sandbox vm del VM
       wyvern sandbox vm dhcp VM [--json]
`,
  exec: `usage: wyvern sandbox exec VM -- CMD [ARG…]
`,
  host: `usage: wyvern sandbox host stop|start HOST
       wyvern sandbox host add [--store URL]
`,
  status: `usage: wyvern sandbox status [--json]
`,
  down: `usage: wyvern sandbox down
`,
  sweep: `usage: wyvern sandbox sweep [--prefix P]
`,
};

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  name: { type: 'string' },
  hosts: { type: 'string' },
  encap: { type: 'string' },
  tunnels: { type: 'boolean' },
  physnet: { type: 'boolean' },
  prefix: { type: 'string' },
  'port-id': { type: 'string' },
  mac: { type: 'string' },
  ip: { type: 'string' },
  gw: { type: 'string' },
  dhcp: { type: 'boolean' },
  mtu: { type: 'string' },
  json: { type: 'boolean' },
  agents: { type: 'boolean' },
  store: { type: 'string' },
  'no-lazy-sync': { type: 'boolean' },
  kill: { type: 'boolean' },
} as const;

/** The flags as parsed: strings for valued options, booleans for switches. */
type SandboxFlags = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string;
};

/** Runs one sandbox command; resolves with the process exit code (0 ok, 1 failure, 2 usage error). */
export async function sandboxCommand(argv: string[], io: CliIo = stdio): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const trailing = dash < 0 ? [] : argv.slice(dash + 1);
  let cmd = 'main';
  try {
    const parsed = parseFlags(own, OPTIONS);
    const values = parsed.values as SandboxFlags;
    const { positionals } = parsed;
    cmd = positionals[0] ?? 'main';
    if (!(cmd in HELP)) throw new UsageError(`unknown command "${cmd}"`);
    if (values.help || cmd === 'main') {
      io.out(HELP[cmd]!);
      return values.help ? 0 : 2;
    }
    const name = values.name ?? 'default';
    const args = positionals.slice(1);
    const load = () => Sandbox.load(name);
    const expectArgs = (n: number, what: string) => {
      if (args.length !== n) throw new UsageError(`expected ${what}`);
    };
    switch (cmd) {
      case 'up': {
        expectArgs(0, 'no positional arguments');
        const hosts = intOpt('--hosts', values.hosts);
        if (hosts === undefined) throw new UsageError('--hosts N is required');
        const encap = values.encap ?? 'vxlan';
        if (!ENCAPS.includes(encap as Encap)) throw new UsageError(`--encap must be one of ${ENCAPS.join(', ')}`);
        const storeUrl = values.store ?? process.env.WYVERN_STORE;
        if (values.agents && !storeUrl) throw new UsageError('--agents needs --store URL (or WYVERN_STORE)');
        const sb = await Sandbox.up({
          hosts,
          encap: encap as Encap,
          name,
          prefix: values.prefix,
          tunnels: values.tunnels ?? false,
          physnet: values.physnet ?? false,
          persistent: true,
        });
        io.out(`sandbox ${sb.name} up: ${hosts} host(s), ${encap}, prefix ${sb.prefix}, run dir ${sb.runDir}\n`);
        if (values.agents) {
          const agents = await startAgents(sb, { store: storeUrl!, lazySync: !values['no-lazy-sync'] });
          for (const [i, a] of agents.entries()) io.out(`agent on ${sb.hosts[i]!.name}: pid ${a.pid}, api ${a.api}\n`);
        }
        return 0;
      }
      case 'vm': {
        const [sub, ...rest] = args;
        if (sub === 'add') {
          if (rest.length !== 2) throw new UsageError('expected: vm add HOST VM --port-id ID');
          if (!values['port-id']) throw new UsageError('--port-id ID is required');
          if (values.gw && !values.ip) throw new UsageError('--gw needs --ip');
          if (values.dhcp && values.ip) throw new UsageError('--ip and --dhcp are exclusive');
          const sb = await load();
          const vm = await sb.addVm(rest[0]!, rest[1]!, {
            portId: values['port-id'],
            mac: values.mac,
            ip: values.ip,
            gateway: values.gw,
            dhcp: values.dhcp,
            mtu: intOpt('--mtu', values.mtu),
          });
          io.out(
            `vm ${vm.name} on ${vm.host}: port ${vm.ifname} iface-id=${vm.portId} mac ${vm.mac}${vm.ip ? ` ip ${vm.ip}` : vm.dhcp ? ' (dhcp)' : ''}\n`,
          );
          return 0;
        }
        if (sub === 'del') {
          if (rest.length !== 1) throw new UsageError('expected: vm del VM');
          await (await load()).delVm(rest[0]!);
          return 0;
        }
        if (sub === 'dhcp') {
          if (rest.length !== 1) throw new UsageError('expected: vm dhcp VM');
          const lease = await (await load()).dhcp(rest[0]!);
          io.out(
            values.json
              ? `${JSON.stringify(lease)}\n`
              : `${rest[0]}: ${lease.ip}/${lease.mask} router ${lease.router ?? '-'} mtu ${lease.mtu ?? '-'} dns ${(lease.dns ?? []).join(',') || '-'} lease ${lease.leaseSeconds ?? '-'}s (${Math.round(lease.ms)} ms)\n`,
          );
          return 0;
        }
        throw new UsageError('expected: vm add …, vm del … or vm dhcp …');
      }
      case 'exec': {
        expectArgs(1, 'exec VM -- CMD…');
        if (trailing.length === 0) throw new UsageError('expected a command after --');
        const vm = (await load()).vm(args[0]!);
        return await streamExec(['ip', 'netns', 'exec', vm.netns, ...trailing], io);
      }
      case 'agent': {
        expectArgs(2, 'agent stop|start HOST');
        const sb = await load();
        if (args[0] === 'stop') await stopAgent(sb, args[1]!, values.kill ? 'SIGKILL' : 'SIGTERM');
        else if (args[0] === 'start') {
          const store = values.store ?? process.env.WYVERN_STORE;
          const a = await restartAgent(sb, args[1]!, store ? { store } : {});
          io.out(`agent on ${args[1]}: pid ${a.pid}, api ${a.api}\n`);
        } else throw new UsageError('expected: agent stop|start HOST');
        return 0;
      }
      case 'host': {
        if (args[0] === 'add') {
          expectArgs(1, 'host add');
          const sb = await load();
          const h = await sb.addHost();
          io.out(`host ${h.name} up: tunnel ${h.tunnelIp}\n`);
          const peer = sb.hosts.find((x) => x.extras.agentConfig);
          const peerOpts = peer ? await savedAgentOptions(sb, peer.name) : undefined;
          const store = values.store ?? process.env.WYVERN_STORE ?? peerOpts?.store;
          if (store) {
            // Same agent settings as its peers (lazy sync etc.).
            const a = await restartAgent(sb, h.name, { ...peerOpts, store });
            io.out(`agent on ${h.name}: pid ${a.pid}, api ${a.api}\n`);
          }
          return 0;
        }
        expectArgs(2, 'host stop|start HOST');
        if (args[0] !== 'stop' && args[0] !== 'start') throw new UsageError('expected: host stop|start HOST');
        const sb = await load();
        await (args[0] === 'stop' ? sb.hostStop(args[1]!) : sb.hostStart(args[1]!));
        return 0;
      }
      case 'status': {
        expectArgs(0, 'no positional arguments');
        const st = await (await load()).status();
        io.out(values.json ? JSON.stringify(st, null, 2) + '\n' : formatStatus(st));
        return 0;
      }
      case 'down': {
        expectArgs(0, 'no positional arguments');
        const sb = await load();
        await sb.down();
        io.out(`sandbox ${sb.name} down\n`);
        return 0;
      }
      case 'sweep': {
        expectArgs(0, 'no positional arguments');
        const removed = await Sandbox.sweep(values.prefix);
        io.out(removed.length ? `removed: ${removed.join(', ')}\n` : 'nothing to sweep\n');
        return 0;
      }
    }
    return 2;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`wyvern sandbox: ${(err as Error).message}\n${HELP[cmd] ?? HELP.main}`);
      return 2;
    }
    io.err(`wyvern sandbox: ${(err as Error).message}\n`);
    return 1;
  }
}

function intOpt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} wants a number, got "${v}"`);
  return Number(v);
}

function streamExec(cmd: string[], io: CliIo): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['inherit', 'pipe', 'pipe'] });
    p.stdout.on('data', (d: Buffer) => io.out(d.toString()));
    p.stderr.on('data', (d: Buffer) => io.err(d.toString()));
    p.on('error', (e) => {
      io.err(`${e.message}\n`);
      resolve(127);
    });
    p.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function formatStatus(st: SandboxStatus): string {
  const lines = [
    `sandbox ${st.name} (prefix ${st.prefix}, ${st.encap}, underlay ${st.underlay.subnet} in ${st.underlay.netns})`,
    `run dir ${st.runDir}`,
  ];
  for (const h of st.hosts) {
    const state = h.running.vswitchd ? 'running' : h.running.ovsdb ? 'vswitchd down' : 'stopped';
    lines.push(
      `${h.name}  netns ${h.netns}  tunnel ${h.tunnelIp}  OVS ${state}${h.agent ? `  agent pid ${h.agent.pid} api ${h.agent.api}` : ''}`,
    );
    lines.push(`     db ${h.dbSock}`, `     of ${h.mgmtSock}`);
    for (const v of h.vms) {
      lines.push(
        `     vm ${v.name}  iface-id ${v.portId}  mac ${v.mac}  ${v.ip ?? (v.dhcp ? 'dhcp' : '-')}  ofport ${v.ofport ?? '-'}  (netns ${v.netns})`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

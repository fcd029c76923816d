#!/usr/bin/env node
/**
 * The `wyvern` command: a table of sub-commands, each a module loaded on demand and exporting
 * `(argv: string[]) => Promise<number>` (the exit code). Adding a command is one line here.
 */
import { parseArgs } from 'node:util';
import { GLOBAL_HELP, GLOBAL_OPTIONS } from './global-options.js';
import { VERSION } from '../version.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  network: {
    summary: 'create, list, show, update (mesh|star) and delete networks',
    load: async () => (await import('./resources.js')).networkCommand,
  },
  subnet: { summary: 'create, list, show and delete subnets', load: async () => (await import('./resources.js')).subnetCommand },
  port: {
    summary: "create, list, show and delete ports (a VIF's iface-id is its port name)",
    load: async () => (await import('./resources.js')).portCommand,
  },
  router: {
    summary: 'routers: create, attach subnets, static routes, gateway',
    load: async () => (await import('./router.js')).routerCommand,
  },
  fip: {
    summary: 'floating IPs: a provider-network address mapped to a port (create, list, show, update, delete)',
    load: async () => (await import('./fip.js')).fipCommand,
  },
  sg: {
    summary: 'security groups and their rules (stateful allow rules for ports)',
    load: async () => (await import('./sg.js')).sgCommand,
  },
  site: {
    summary: 'sites and their gateway candidates (traffic between sites goes through elected gateways)',
    load: async () => (await import('./site.js')).siteCommand,
  },
  chassis: { summary: 'registered hypervisors (list, show, delete)', load: async () => (await import('./resources.js')).chassisCommand },
  topology: {
    summary: 'export / import the whole topology (disaster recovery)',
    load: async () => (await import('./topology.js')).topologyCommand,
  },
  api: { summary: 'run the REST API standalone: wyvern api --store URL', load: async () => (await import('./api-command.js')).apiCommand },
  agent: {
    summary: 'run the hypervisor agent, or ask one for status / recompute / flows / decommission',
    load: async () => (await import('../agent/cli.js')).agentCommand,
  },
  sandbox: {
    summary: 'simulated hypervisors on this machine (tests, demos)',
    load: async () => (await import('./sandbox.js')).sandboxCommand,
  },
};

function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `usage: wyvern COMMAND [ARGS…] [--api URL] [--token T | --token-file F] [--cacert F] [--json]\n       wyvern --version\n\ncommands:\n${Object.entries(
    COMMANDS,
  )
    .map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`)
    .join('\n')}\n\nRun "wyvern COMMAND --help" for details.\n\n${GLOBAL_HELP}`;
}

/**
 * Global flags given before the command (`wyvern --json network list`) move after it, where the command's own
 * strict parse reads them (and refuses unknown ones). The command is the first positional parseArgs finds.
 */
function hoistGlobals(argv: string[]): { cmd: string | undefined; rest: string[] } {
  const { tokens } = parseArgs({ args: argv, options: GLOBAL_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional' || t.kind === 'option-terminator');
  if (!first) return { cmd: undefined, rest: argv };
  if (first.kind === 'option-terminator')
    return { cmd: argv[first.index + 1], rest: [...argv.slice(first.index + 2), ...argv.slice(0, first.index)] };
  return { cmd: argv[first.index], rest: [...argv.slice(first.index + 1), ...argv.slice(0, first.index)] };
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    process.stdout.write(`wyvern ${VERSION}\n`);
    return 0;
  }
  const { cmd, rest } = hoistGlobals(argv);
  if (cmd === undefined || cmd === 'help') {
    const help = argv.includes('--help') || argv.includes('-h') || cmd === 'help';
    (help ? process.stdout : process.stderr).write(`${usage()}\n`);
    return help ? 0 : 2;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`wyvern: unknown command "${cmd}"\n\n${usage()}\n`);
    return 2;
  }
  return (await c.load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`wyvern: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);

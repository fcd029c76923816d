import { hostname } from 'node:os';
import { parseFlags, UsageError, type FlagOptions } from '../util/args.js';
import { GLOBAL_OPTIONS } from '../cli/global-options.js';
import { createAdjustableLogger } from '../util/log.js';
import { Agent } from './agent.js';
import { AGENT_USAGE, ConfigError, loadAgentConfig } from './config.js';
import { reloadConfig } from './reload.js';
import { setAgentV8Flags } from './node-flags.js';
import { trimHeapAfterBursts, type HeapTrim } from './heap-trim.js';

const DEBUG_USAGE = `usage: wyvern agent status|recompute|flows|decommission [--api URL] [--token T | --token-file F]
                                           [--cacert F] [--cert F --key F]

  status         the agent's chassis, watched networks, bound ports, refused VIFs, unreachable chassis, flow and packet-in counters
  recompute      recompute every flow from scratch and compare with the incremental state
  flows          the agent's desired flows in ovs-ofctl syntax, with the app and object of each
  decommission [--force]
                 take this chassis out of service (the host is leaving): peers drop it at once, then the
                 agent exits. Refused while ports are bound here unless --force (their bindings go too).
                 A plain stop (SIGTERM, systemctl restart) is a restart: it withdraws nothing.
`;

async function debugCommand(sub: string, argv: string[]): Promise<number> {
  const { apiClientFrom } = await import('../api/client-config.js');
  let v: Record<string, string | boolean | undefined>;
  try {
    // The API commands' own global options (no --help here: `wyvern agent --help` prints this usage).
    const { help: _help, ...global } = GLOBAL_OPTIONS;
    const options: FlagOptions = { ...global, ...(sub === 'decommission' ? { force: { type: 'boolean' } } : {}) };
    v = parseFlags(argv, options, { positionals: false }).values as typeof v;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`wyvern agent ${sub}: ${err.message}\n${DEBUG_USAGE}`);
    return 2;
  }
  const str = (k: string) => v[k] as string | undefined;
  const flags = {
    api: str('api'),
    token: str('token'),
    tokenFile: str('token-file'),
    cacert: str('cacert'),
    cert: str('cert'),
    key: str('key'),
  };
  const force = v.force === true;
  let res;
  try {
    const client = apiClientFrom(flags);
    res =
      sub === 'recompute'
        ? await client.raw('POST', '/v1/agent/recompute')
        : sub === 'decommission'
          ? await client.raw('POST', '/v1/agent/decommission', { force })
          : await client.raw('GET', `/v1/agent/${sub}`);
  } catch (err) {
    process.stderr.write(`wyvern agent ${sub}: ${(err as Error).message}\n`);
    return 1;
  }
  if (res.status >= 300) {
    process.stderr.write(`wyvern agent ${sub}: ${JSON.stringify(res.body)}\n`);
    return 1;
  }
  if (sub === 'flows' && !v.json) {
    for (const f of res.body as { app: string; object: string; flow: string }[])
      process.stdout.write(`${f.flow}  # ${f.app}/${f.object}\n`);
  } else process.stdout.write(`${JSON.stringify(res.body, null, 2)}\n`);
  if (sub === 'recompute' && !(res.body as { equal: boolean }).equal) return 1;
  return 0;
}

/** `wyvern agent …`: runs the agent, or asks a running one for status / recompute / flows. */
export async function agentCommand(argv: string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${AGENT_USAGE}\n${DEBUG_USAGE}`);
    return 0;
  }
  if (argv[0] === 'status' || argv[0] === 'recompute' || argv[0] === 'flows' || argv[0] === 'decommission')
    return debugCommand(argv[0], argv.slice(1));
  let config;
  try {
    config = loadAgentConfig(argv, process.env, hostname());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wyvern agent: ${err.message}\n\n${AGENT_USAGE}`);
      return 2;
    }
    throw err;
  }
  const { logger, setLevel } = createAdjustableLogger({ level: config.logLevel, name: 'wyvern-agent' });
  setAgentV8Flags();
  const agent = new Agent(config, logger);
  // SIGHUP (systemctl reload): re-read the settings, apply the live ones (src/agent/reload.ts).
  let inForce = config;
  process.on('SIGHUP', () => {
    inForce = reloadConfig(inForce, () => loadAgentConfig(argv, process.env, hostname()), setLevel, logger);
  });
  const memory: { trim?: HeapTrim } = {};
  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    memory.trim?.stop();
    await agent.stop();
    logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  try {
    await agent.start();
  } catch (err) {
    logger.fatal({ err }, 'agent failed to start');
    logger.flush();
    await agent.stop().catch(() => undefined);
    return 1;
  }
  // Once started: what the start left is trimmed at the first quiet moment, and every burst after it (heap-trim.ts).
  memory.trim = trimHeapAfterBursts({ logger, growth: config.heapTrimMb * 1024 * 1024, afterStart: true });
  // Runs until a signal or a decommission stops it.
  await agent.stopped;
  logger.info('stopped');
  logger.flush();
  // Client libraries may keep timers (reconnects): the agent is done, so is the process.
  process.exit(0);
}

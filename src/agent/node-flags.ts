import { createRequire } from 'node:module';
import { TIER_UP_FLAGS } from '../util/tier-up.js';

/**
 * V8 settings of the agent process (docs/footprint.md), set while it runs (AGENT_RUNTIME_V8_FLAGS, in this order):
 *
 * - `--semi-space-growth-factor=1`: the young generation is kept at two 1 MiB semi-spaces. V8 otherwise lets it grow
 *   to two 16 MiB semi-spaces under an allocation burst (a flow recompute, 1,000 ports binding) and keeps them
 *   resident afterwards, while the agent's short-lived garbage needs no more than 1 MiB to die young. It caps nothing
 *   else: a bigger topology still gets all the memory it needs (no --max-old-space-size). V8 reads it each time it
 *   would grow the young generation (initially 1 MiB a semi-space): it never grows.
 * - `--no-sparkplug`: no baseline tier between the interpreter and the optimising compiler. The baseline code and
 *   the compiler's own pages were ~1 MB of an idle agent's RSS (54.6 → 53.5 MB at start, fourteenth session), and
 *   the agent's hot paths (flow computation and sync, the codecs) are optimised by TurboFan as before: flow-burst and
 *   the agent's start measured the same with and without it.
 * - TIER_UP_FLAGS (src/util/tier-up.ts): TurboFan optimises what is hot, not every lukewarm function of a burst nor
 *   every small function at once.
 *
 * How, since the third start-up pass: not on the command line. Any V8 flag given there changes V8's flag hash, and
 * Node's own code cache of its built-in modules (node:net, node:http2, node:crypto…) is then rejected: each built-in
 * the agent loads compiles from source, ~20 ms of a fresh agent's start on this machine. Instead the agent bundle's
 * boot (scripts/agent-boot.cjs) first loads the built-ins the start needs, with their cache, and then sets these.
 * The agent-metrics test checks the young generation's size in a running agent; a unit test that the boot sets this
 * list.
 */
export const AGENT_RUNTIME_V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--no-sparkplug', ...TIER_UP_FLAGS];

/**
 * Sets AGENT_RUNTIME_V8_FLAGS when the agent is run through the CLI (`node dist/src/cli/main.js agent`, an npm
 * install's `wyvern agent`) rather than the bundle's boot, which sets them before anything else (setting them again
 * changes nothing). A require, not an import(): the agent bundle has no module loader (scripts/bundle-agent.mjs).
 */
export function setAgentV8Flags(): void {
  const { setFlagsFromString } = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  for (const flag of AGENT_RUNTIME_V8_FLAGS) setFlagsFromString(flag);
}

/**
 * V8 flags on the agent's command line (the package's launcher and the sandbox give them): none now, see above.
 * Kept as the one place to add one.
 */
export const AGENT_NODE_FLAGS: readonly string[] = [];

/**
 * Environment of the agent process (the package's launcher and the sandbox set it): glibc's malloc returns the top
 * of its heap to the system once 256 KiB of it are free (M_TRIM_THRESHOLD). By default the threshold starts at
 * 128 KiB and grows as large blocks are freed, and after a burst (1,000 ports binding: I/O buffers, HTTP/2 streams
 * of the etcd calls) glibc kept ~6–7 MB the agent had freed. Measured with 1,000 ports bound, RSS 20 s after the
 * burst: 22.3 MB more than a fresh agent without it, 16.2 and 17.5 with it (docs/footprint.md). Read by glibc when
 * the process starts, hence the environment.
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_TRIM_THRESHOLD_: '262144' };

/**
 * Taken out of the agent's environment (the package's launcher and the sandbox do it): NODE_EXTRA_CA_CERTS. Node
 * reads and parses that file as the process starts, before any of the agent's code runs: with Debian's bundle
 * (/etc/ssl/certs/ca-certificates.crt, ~140 certificates) 37 ms of a fresh agent's start and 3.6 MB of its RSS on
 * this machine (docs/footprint.md, fourth start-up pass). The agent never uses it: Node adds those certificates only
 * to TLS contexts made without their own `ca`, and every TLS endpoint of the agent is given one (store-ca for
 * etcds://, the CA of ssl: OVSDB and OpenFlow endpoints, the API's client CA). The CLI keeps it.
 */
export const AGENT_ENV_REMOVED: readonly string[] = ['NODE_EXTRA_CA_CERTS'];

/** The agent process's environment made from `base` (a parent's): AGENT_ENV set, AGENT_ENV_REMOVED taken out. */
export function agentEnvironment(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...base, ...AGENT_ENV };
  for (const name of AGENT_ENV_REMOVED) delete env[name];
  return env;
}

/**
 * One shard of a sharded scale run (src/sim/shards.ts): a child process that simulates the chassis range its parent
 * gives it, with its own etcd connections, and reports its phases (barriers), its log and its raw result over IPC.
 */
import { openStore } from '../store/index.js';
import { runScale } from './harness.js';
import type { ShardConfig, ShardMessage } from './shards.js';

const send = (m: ShardMessage): void => void process.send?.(m);
const released = new Map<string, () => void>();

process.on('message', (m: { type: 'run'; config: ShardConfig } | { type: 'go'; phase: string }) => {
  if (m.type === 'go') {
    released.get(m.phase)?.();
    released.delete(m.phase);
    return;
  }
  void run(m.config).then(
    () => process.exit(0),
    (err: unknown) => {
      send({ type: 'error', message: (err as Error)?.stack ?? String(err) });
      process.exit(1);
    },
  );
});

async function run(config: ShardConfig): Promise<void> {
  const { storeUrl, shard, ...opts } = config;
  const store = await openStore(storeUrl);
  try {
    const result = await runScale({
      ...opts,
      store,
      openStore: () => openStore(storeUrl),
      log: (line) => send({ type: 'log', line }),
      shard: {
        ...shard,
        barrier: (phase) =>
          new Promise<void>((resolve) => {
            released.set(phase, resolve);
            send({ type: 'barrier', phase });
          }),
      },
    });
    await new Promise<void>((resolve) => process.send!({ type: 'result', result } satisfies ShardMessage, () => resolve()));
  } finally {
    await store.close();
  }
}

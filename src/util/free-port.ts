import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports below the kernel's ephemeral range: the kernel never hands these out for outgoing connections or for
 * `listen(0)`, so a port found free here is not taken a moment later by some test's client socket (which is
 * what made an etcd member started on a `listen(0)` port fail with "address already in use" now and then).
 */
function ownRange(): [number, number] {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the default
  }
  return low > 11000 ? [10000, low] : [0, 0];
}

/** Read once: the range does not change under a test run. */
let range: [number, number] | undefined;

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err),
    );
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as { port: number }).port;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A TCP port free on 127.0.0.1 now, for sandboxes and tests. Another process may still take it before it is used,
 * so callers that can should retry with another port when the bind fails.
 */
export async function freePort(): Promise<number> {
  const [low, high] = (range ??= ownRange());
  for (let i = 0; high > low && i < 50; i++) {
    const port = await tryListen(low + Math.floor(Math.random() * (high - low)));
    if (port !== undefined) return port;
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}

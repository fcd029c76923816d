/**
 * Waking a reconnect loop when a daemon's unix socket (re)appears, instead of sleeping through a backoff.
 *
 * A daemon that restarts unlinks and binds its socket again (ovsdb-server's db.sock, ovs-vswitchd's
 * <bridge>.mgmt): the socket's directory sees the name change. fs.watch (inotify on Linux) reports it at once.
 * It is only a hint — an event can come before the daemon listens, the directory may not exist yet, and some
 * file systems report nothing — so callers keep a short probe interval too (UNIX_RECONNECT).
 */
import { watch as fsWatch } from 'node:fs';
import { basename, dirname } from 'node:path';

/** Watches a directory; calls back with the name that changed (null when the platform does not say). */
export type DirWatchFn = (dir: string, onEvent: (filename: string | null) => void) => { close(): void };

/** Reconnect delays for unix sockets: local connects cost nothing, so probe often; the watch wakes us sooner. */
export const UNIX_RECONNECT = { minMs: 50, maxMs: 250 } as const;
/** Reconnect delays for tcp/ssl endpoints: a remote peer should not be hammered, but 1 s caps the wait. */
export const NET_RECONNECT = { minMs: 100, maxMs: 1_000 } as const;

export const nodeDirWatch: DirWatchFn = (dir, onEvent) => {
  // persistent: false — a watch must never keep the process alive on its own.
  const w = fsWatch(dir, { persistent: false }, (_event, filename) => onEvent(filename === null ? null : String(filename)));
  // The directory can vanish under us (OVS's run dir removed): the probe interval still covers that.
  w.on('error', () => w.close());
  return w;
};

/**
 * Calls `onChange` whenever the entry `socketPath` is created, removed or replaced. Returns a handle to
 * close. If the directory cannot be watched (missing, no permission), it returns a no-op handle: the
 * caller's probe interval is then the only way back.
 */
export function watchSocket(socketPath: string, onChange: () => void, watch: DirWatchFn = nodeDirWatch): { close(): void } {
  const name = basename(socketPath);
  try {
    return watch(dirname(socketPath), (filename) => {
      if (filename === null || filename === name) onChange();
    });
  } catch {
    return { close: () => undefined };
  }
}

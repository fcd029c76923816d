/**
 * Traffic between two sandbox VMs for the sg bench: iperf3 throughput and new TCP connections per second.
 * Servers run inside the server VM's namespace and are ended by pid; nothing listens outside a VM namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execCmd } from '../../src/sandbox/run.js';
import { sleep } from './stats.js';

export const IPERF_PORT = 5201;
export const CONN_PORT = 5202;

function startIn(netns: string, cmd: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', netns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits until something in `netns` listens on TCP `port` (ss, inside the namespace). */
async function listening(netns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await execCmd(['ip', 'netns', 'exec', netns, 'ss', '-Hltn', `sport = :${port}`]);
    if (r.stdout.trim()) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} in ${netns}`);
    await sleep(50);
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGTERM');
  });
}

/** iperf3 client → server for `seconds`; the receiver's rate in Gbit/s. */
export async function iperf(o: { serverNs: string; clientNs: string; serverIp: string; seconds: number }): Promise<number> {
  const server = startIn(o.serverNs, ['iperf3', '-s', '-1', '-p', String(IPERF_PORT)]);
  try {
    await listening(o.serverNs, IPERF_PORT);
    const r = await execCmd(
      ['ip', 'netns', 'exec', o.clientNs, 'iperf3', '-c', o.serverIp, '-p', String(IPERF_PORT), '-t', String(o.seconds), '-J'],
      { timeoutMs: (o.seconds + 30) * 1000 },
    );
    if (r.code !== 0) throw new Error(`iperf3 client failed (${r.code}): ${r.stderr.trim() || r.stdout.slice(0, 400)}`);
    const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    const bps = j.end?.sum_received?.bits_per_second;
    if (!bps) throw new Error(`iperf3: no result${j.error ? `: ${j.error}` : ''}`);
    return Math.round(bps / 1e7) / 100;
  } finally {
    await stop(server);
  }
}

/**
 * The connection server: accepts and closes at once (the server closes first, so TIME_WAIT sits on the server
 * side and the client never runs out of ephemeral ports).
 */
const CONN_SERVER = `
const net = require('node:net');
net.createServer((s) => { s.on('error', () => {}); s.end(); }).listen(Number(process.argv[1]), '0.0.0.0');
`;

/**
 * `parallel` loops that each open a TCP connection, wait for the server's FIN, close, and start again, for
 * `seconds`; prints the number of completed connections and of failures.
 */
const CONN_CLIENT = `
const net = require('node:net');
const [ip, port, seconds, parallel] = process.argv.slice(1);
const end = Date.now() + Number(seconds) * 1000;
let done = 0, failed = 0, live = Number(parallel);
function one() {
  if (Date.now() >= end) { if (--live === 0) console.log(done + ' ' + failed); return; }
  const s = net.connect({ host: ip, port: Number(port) });
  s.setTimeout(2000, () => s.destroy(new Error('timeout')));
  s.on('error', () => { failed++; s.destroy(); setImmediate(one); });
  s.on('end', () => { s.destroy(); done++; one(); });
  s.resume();
}
for (let i = 0; i < Number(parallel); i++) one();
`;

/** New TCP connections per second from the client VM to the server VM (completed handshakes, closed). */
export async function connRate(o: {
  serverNs: string;
  clientNs: string;
  serverIp: string;
  seconds: number;
  parallel: number;
}): Promise<{ perSecond: number; failed: number }> {
  const server = startIn(o.serverNs, [process.execPath, '-e', CONN_SERVER, String(CONN_PORT)]);
  try {
    await listening(o.serverNs, CONN_PORT);
    const r = await execCmd(
      [
        'ip',
        'netns',
        'exec',
        o.clientNs,
        process.execPath,
        '-e',
        CONN_CLIENT,
        o.serverIp,
        String(CONN_PORT),
        String(o.seconds),
        String(o.parallel),
      ],
      { timeoutMs: (o.seconds + 30) * 1000 },
    );
    const [done, failed] = r.stdout.trim().split(' ').map(Number);
    if (r.code !== 0 || done === undefined || failed === undefined) throw new Error(`conn client failed (${r.code}): ${r.stderr.trim()}`);
    return { perSecond: Math.round(done / o.seconds), failed };
  } finally {
    await stop(server);
  }
}

/** Whether one TCP connection from the client VM to `port` on the server VM (a listener is started) completes within `timeoutS`. */
export async function tcpOpen(o: {
  serverNs: string;
  clientNs: string;
  serverIp: string;
  port: number;
  timeoutS: number;
}): Promise<boolean> {
  const server = startIn(o.serverNs, [process.execPath, '-e', CONN_SERVER, String(o.port)]);
  try {
    await listening(o.serverNs, o.port);
    const probe = `
const net = require('node:net');
const [ip, port, timeoutS] = process.argv.slice(1);
const end = Date.now() + Number(timeoutS) * 1000;
(function one() {
  const s = net.connect({ host: ip, port: Number(port) });
  s.setTimeout(300, () => s.destroy(new Error('timeout')));
  s.on('error', () => { s.destroy(); if (Date.now() < end) setTimeout(one, 20); else process.exit(1); });
  s.on('connect', () => process.exit(0));
})();
`;
    const r = await execCmd(
      ['ip', 'netns', 'exec', o.clientNs, process.execPath, '-e', probe, o.serverIp, String(o.port), String(o.timeoutS)],
      {
        timeoutMs: (o.timeoutS + 10) * 1000,
      },
    );
    return r.code === 0;
  } finally {
    await stop(server);
  }
}

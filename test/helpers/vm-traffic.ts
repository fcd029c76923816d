/**
 * TCP and UDP probes run inside sandbox VMs (Debian's /usr/bin/python3; busybox nc has no UDP and no connect
 * timeout below a second): an echo server per port, a one-shot connect/echo probe, a poller that measures when a
 * destination starts answering, and a long-lived session that timestamps every echo (to see when it was cut).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Sandbox } from '../../src/sandbox/index.js';
import { untilListening } from './listening.js';

const PY = '/usr/bin/python3';

const ECHO_SERVER = `
import socket, sys, threading
proto, port = sys.argv[1], int(sys.argv[2])
if proto == 'udp':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', port))
s.listen(128)
def serve(c):
    try:
        while True:
            d = c.recv(2048)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** One attempt: connects (TCP) or sends a datagram (UDP) and waits for the echo; prints ok or fail. */
const PROBE = `
import socket, sys
proto, ip, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
src = ('0.0.0.0', int(sys.argv[5])) if len(sys.argv) > 5 else None
try:
    if proto == 'udp':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if src:
            s.bind(src)
        s.settimeout(timeout)
        s.sendto(b'ping', (ip, port))
        ok = s.recvfrom(64)[0] == b'ping'
    else:
        s = socket.create_connection((ip, port), timeout=timeout, source_address=src)
        s.settimeout(timeout)
        s.sendall(b'ping')
        ok = s.recv(64) == b'ping'
    print('ok' if ok else 'fail')
except OSError:
    print('fail')
`;

/**
 * A datagram to a port nobody listens on: prints refused when the ICMP port-unreachable error comes back (a
 * related packet of the datagram's connection), silent when nothing does.
 */
const UDP_CLOSED = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
s.send(b'x')
try:
    s.recv(64)
    print('answered')
except ConnectionRefusedError:
    print('refused')
except socket.timeout:
    print('silent')
`;

/** Tries a fresh TCP connection every 50 ms (150 ms timeout each) until one is echoed; prints the ms it took. */
const POLL = `
import socket, sys, time
ip, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.time()
while time.time() - t0 < limit:
    try:
        s = socket.create_connection((ip, port), timeout=0.15)
        s.settimeout(0.5)
        s.sendall(b'x')
        if s.recv(8) == b'x':
            print(int((time.time() - t0) * 1000))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
print(-1)
`;

/**
 * One TCP connection that sends a line every 50 ms for `seconds` and prints the wall-clock time (epoch seconds) of
 * every echo it gets back; a send that fails ends it. The VM shares the host's clock, so the test compares these
 * times with its own.
 */
const SESSION = `
import socket, sys, time
ip, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((ip, port), timeout=2)
s.settimeout(0.05)
t0 = time.time()
print('connected', flush=True)
while time.time() - t0 < seconds:
    try:
        s.sendall(b'.')
    except OSError:
        break
    try:
        d = s.recv(64)
        if not d:
            break
        print('%.3f' % time.time(), flush=True)
    except socket.timeout:
        pass
    except OSError:
        break
    time.sleep(0.05)
`;

export type Proto = 'tcp' | 'udp';

export class VmTraffic {
  private readonly servers: ChildProcess[] = [];

  constructor(private readonly sb: Sandbox) {}

  /** Starts an echo server on `port` in `vm` (stopped by stop()). */
  async serve(vm: string, proto: Proto, port: number): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', this.sb.vm(vm).netns, PY, '-c', ECHO_SERVER, proto, String(port)], { stdio: 'ignore' });
    this.servers.push(p);
    await untilListening(this.sb, vm, proto, port);
  }

  /** true if `to`:`port` echoes a probe from `from` within `timeoutS` (sent from `srcPort` if given). */
  async reach(from: string, proto: Proto, to: string, port: number, timeoutS = 1, srcPort?: number): Promise<boolean> {
    const args = [PY, '-c', PROBE, proto, to, String(port), String(timeoutS), ...(srcPort ? [String(srcPort)] : [])];
    const r = await this.sb.exec(from, args, (timeoutS + 5) * 1000);
    return r.stdout.trim() === 'ok';
  }

  /** What a datagram to a closed port gets back: the ICMP error ('refused'), nothing ('silent'), or an answer. */
  async udpToClosedPort(from: string, to: string, port: number, timeoutS = 1): Promise<string> {
    const r = await this.sb.exec(from, [PY, '-c', UDP_CLOSED, to, String(port), String(timeoutS)], (timeoutS + 5) * 1000);
    return r.stdout.trim();
  }

  /** Milliseconds until a new TCP connection from `from` is echoed (-1: none within limitS). */
  async pollTcp(from: string, to: string, port: number, limitS = 5): Promise<number> {
    const r = await this.sb.exec(from, [PY, '-c', POLL, to, String(port), String(limitS)], (limitS + 5) * 1000);
    return Number(r.stdout.trim());
  }

  /** A live TCP session (see SESSION); resolves with the echo times once it ends. */
  session(from: string, to: string, port: number, seconds: number): { connected: Promise<void>; done: Promise<number[]> } {
    const p = spawn('ip', ['netns', 'exec', this.sb.vm(from).netns, PY, '-u', '-c', SESSION, to, String(port), String(seconds)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let resolveConnected!: () => void;
    let rejectConnected!: (e: Error) => void;
    const connected = new Promise<void>((res, rej) => {
      resolveConnected = res;
      rejectConnected = rej;
    });
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('connected')) resolveConnected();
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<number[]>((resolve) => {
      p.on('close', () => {
        rejectConnected(new Error(`session ${from} -> ${to}:${port} never connected: ${err.trim()}`));
        resolve(
          out
            .split('\n')
            .map((l) => Number(l))
            .filter((n) => n > 0),
        );
      });
    });
    return { connected, done };
  }

  stop(): void {
    for (const p of this.servers) p.kill('SIGKILL');
    this.servers.length = 0;
  }
}

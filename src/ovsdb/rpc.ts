import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Logger } from '../util/log.js';
import { OvsdbError } from './errors.js';
import { JsonStreamScanner } from './framing.js';
import { isPlainObject } from './datum.js';

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * One JSON-RPC 1.0 session over one stream: request ids, replies, notifications, and echo in
 * both directions (answers the server's probes; probes an idle server and drops a dead one).
 * Events: 'notification' (method, params), 'close' (error?).
 */
export class JsonRpcSession extends EventEmitter {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly scanner = new JsonStreamScanner();
  private lastRx = Date.now();
  private probe?: NodeJS.Timeout;
  private probeOut = false;
  private closed = false;

  constructor(
    private readonly sock: net.Socket,
    private readonly log: Logger,
    probeIntervalMs: number,
  ) {
    super();
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (e) => this.shutdown(new OvsdbError('disconnected', `socket error: ${e.message}`)));
    sock.on('close', () => this.shutdown(new OvsdbError('disconnected', 'connection closed')));
    if (probeIntervalMs > 0) {
      this.probe = setInterval(() => this.onProbeTick(probeIntervalMs), Math.max(50, probeIntervalMs / 2));
      this.probe.unref();
    }
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Sends a request and resolves with its result; rejects with OvsdbError('rpc') on a JSON-RPC error. */
  request(method: string, params: unknown[]): { id: number; result: Promise<unknown> } {
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      if (this.closed) {
        reject(new OvsdbError('not-connected', `${method}: not connected`, { method }));
        return;
      }
      this.pending.set(id, { method, resolve, reject });
      this.write({ method, params, id });
    });
    return { id, result };
  }

  notify(method: string, params: unknown[]): void {
    if (!this.closed) this.write({ method, params, id: null });
  }

  /** Stops waiting for a reply (after sending `cancel`: ovsdb-server drops the request without answering). */
  abandon(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(err);
  }

  close(): void {
    this.shutdown(new OvsdbError('closed', 'client closed'));
  }

  private write(msg: unknown): void {
    this.sock.write(JSON.stringify(msg));
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    this.probeOut = false;
    let msgs: unknown[];
    try {
      msgs = this.scanner.push(chunk);
    } catch (e) {
      this.log.error({ err: e }, 'ovsdb framing error; dropping connection');
      this.shutdown(e as Error);
      return;
    }
    for (const m of msgs) this.dispatch(m);
  }

  private dispatch(m: unknown): void {
    if (!isPlainObject(m)) {
      this.log.warn({ msg: m }, 'ovsdb: ignoring non-object message');
      return;
    }
    if (typeof m.method === 'string') {
      const params = Array.isArray(m.params) ? m.params : [];
      if (m.id !== null && m.id !== undefined) {
        // A request from the server: echo is the only one OVSDB defines.
        if (m.method === 'echo') this.write({ result: params, error: null, id: m.id });
        else this.write({ result: null, error: 'unknown method', id: m.id });
        return;
      }
      this.emit('notification', m.method, params);
      return;
    }
    if (typeof m.id !== 'number') {
      this.log.warn({ id: m.id }, 'ovsdb: reply with unknown id');
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error !== null && m.error !== undefined) {
      const err = m.error as Record<string, unknown> | string;
      const error = typeof err === 'string' ? err : String(err.error ?? JSON.stringify(err));
      const details = typeof err === 'object' && typeof err.details === 'string' ? err.details : undefined;
      const extra: OvsdbError['extra'] = { method: p.method, error };
      if (details !== undefined) extra.details = details;
      p.reject(new OvsdbError('rpc', `${p.method}: ${error}${details ? ` (${details})` : ''}`, extra));
    } else p.resolve(m.result);
  }

  private onProbeTick(interval: number): void {
    const idle = Date.now() - this.lastRx;
    if (idle < interval) return;
    if (!this.probeOut) {
      this.probeOut = true;
      this.request('echo', ['wyvern-probe']).result.catch(() => undefined);
    } else if (idle >= 2 * interval) {
      this.log.warn({ idleMs: idle }, 'ovsdb: no reply to echo probe; dropping connection');
      this.shutdown(new OvsdbError('disconnected', 'inactivity probe failed'));
    }
  }

  private shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    this.sock.destroy();
    for (const p of this.pending.values()) {
      p.reject(new OvsdbError(err instanceof OvsdbError ? err.code : 'disconnected', `${p.method}: ${err.message}`, { method: p.method }));
    }
    this.pending.clear();
    this.emit('close', err);
  }
}

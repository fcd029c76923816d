/**
 * A TCP forwarder on loopback between one client (an agent) and one server (etcd), which can cut that client off
 * alone: a partition of one host from the store, its data-plane links untouched. A cut is a black hole, as a dead
 * link or a dropping firewall is: connections stay open and nothing passes either way, so the client notices only
 * through its own deadlines and keep-alives, never through a reset.
 */
import net from 'node:net';

export class TcpGate {
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  /** Connections accepted while cut: held, never forwarded. */
  private readonly held = new Set<net.Socket>();
  private blackHole = false;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  /** A gate to `target` ("host:port"), listening on an ephemeral loopback port. */
  static async open(target: string): Promise<TcpGate> {
    const [host, port] = target.split(':');
    const gate = new TcpGate({ host: host!, port: Number(port) });
    await new Promise<void>((resolve) => gate.server.listen(0, '127.0.0.1', resolve));
    return gate;
  }

  /** `host:port` clients connect to. */
  get address(): string {
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  get isCut(): boolean {
    return this.blackHole;
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.blackHole) {
      client.pause();
      this.held.add(client);
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    upstream.on('error', end).on('close', end);
    client.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** From now on nothing passes, either way, on open connections or new ones. */
  cut(): void {
    this.blackHole = true;
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  }

  /**
   * The link is back. The connections stalled by the cut are reset (after a partition longer than the client's
   * deadlines their sessions are dead on both ends anyway); new ones pass.
   */
  heal(): void {
    this.blackHole = false;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    for (const s of this.held) s.destroy();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.heal();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

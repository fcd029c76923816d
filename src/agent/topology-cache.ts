/**
 * The agent's last known topology, on local disk: the contents of every prefix it watches (chassis, routers,
 * its networks), kept in step with the store subscription and written atomically (temporary file, fsync,
 * rename) a moment after each change. An agent started while the store is unreachable starts from it
 * (PrefixSubscription's fallback), so a hypervisor reboot during a store outage still programs its switch.
 * It holds nothing beyond what this agent watches, and only what the store holds (no credentials).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { decodePort } from '../model/codec.js';
import { encodeClaim } from '../model/read.js';
import { CHASSIS_PREFIX, FIPS_PREFIX, GATEWAYS_PREFIX, namesPrefix, parseKey, ROUTERS_PREFIX } from '../model/keys.js';
import type { SubscriptionEvent } from '../store/subscription.js';
import type { KeyValue } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { isoTime } from '../util/time.js';

const FORMAT = 1;
/** Lists whose members lazy sync watches one key at a time. */
const ONE_KEY_PREFIXES = [CHASSIS_PREFIX, ROUTERS_PREFIX, GATEWAYS_PREFIX, FIPS_PREFIX];
/** Characters per piece of the file's text written at once (see text()). */
const CHUNK_CHARS = 64 * 1024;

interface CacheFile {
  format: number;
  chassis: string;
  savedAt: string;
  prefixes: Record<string, [key: string, value: string][]>;
}

export class TopologyCache {
  private readonly prefixes = new Map<string, Map<string, string>>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** When the loaded file was saved (undefined: no usable file). */
  readonly loadedFrom: string | undefined;

  constructor(
    private readonly path: string,
    private readonly chassis: string,
    private readonly logger: Logger,
    /** Prefixes still watched: anything else is dropped when saving (a network this host left). */
    private readonly watched: () => string[],
    private readonly delayMs = 200,
  ) {
    this.loadedFrom = this.load();
  }

  /**
   * The cached contents of a prefix, as a store read would give them (revisions unknown: 0). A port's name (or
   * id) key is not kept once the port is bound (its network's watch covers it), so it is answered from the cached port
   * documents: a VIF plugged during an outage, or present at a restart, finds its port.
   */
  get(prefix: string): KeyValue[] | undefined {
    const m = this.prefixes.get(prefix);
    if (m) return [...m].map(([key, value]) => ({ key, value, createRevision: 0, modRevision: 0 }));
    // One chassis's, router's, gateway lease's or FIP's key (lazy sync): from any cached prefix holding it (a cache
    // written before lazy sync of these has the whole list), else absent — a key not cached must not hold back the
    // cached topology.
    if (ONE_KEY_PREFIXES.some((p) => prefix.startsWith(p) && prefix !== p) && this.prefixes.size > 0) {
      for (const held of this.prefixes.values()) {
        const value = held.get(prefix);
        if (value !== undefined) return [{ key: prefix, value, createRevision: 0, modRevision: 0 }];
      }
      return [];
    }
    const name = prefix.startsWith(namesPrefix('port')) ? prefix.slice(namesPrefix('port').length) : undefined;
    const port = name === undefined ? undefined : this.findPort(name);
    if (!port) return undefined;
    return [{ key: prefix, value: encodeClaim({ id: port.id, networkId: port.networkId }), createRevision: 0, modRevision: 0 }];
  }

  private findPort(name: string): { id: string; networkId: string } | undefined {
    for (const m of this.prefixes.values()) {
      for (const [key, value] of m) {
        const k = parseKey(key);
        if (k?.kind !== 'port') continue;
        try {
          const p = decodePort(value);
          if (p.name === name || p.id === name) return { id: p.id, networkId: p.networkId }; // a name or an id claim
        } catch {
          /* a document this version cannot read: not this port */
        }
      }
    }
    return undefined;
  }

  /** Follows the subscription; cached snapshots are what the cache already holds. */
  apply(ev: SubscriptionEvent): void {
    switch (ev.type) {
      case 'snapshot':
      case 'resync':
        if (ev.type === 'snapshot' && ev.cached) return;
        this.prefixes.set(ev.prefix, new Map(ev.kvs.map((kv) => [kv.key, kv.value])));
        break;
      case 'put':
        this.entry(ev.prefix).set(ev.kv.key, ev.kv.value);
        break;
      case 'delete':
        this.entry(ev.prefix).delete(ev.key);
        break;
    }
    this.schedule();
  }

  /** Writes what is pending now (the agent stops). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.writing = this.writing.then(() => this.save());
    }
    await this.writing;
  }

  private entry(prefix: string): Map<string, string> {
    let m = this.prefixes.get(prefix);
    if (!m) this.prefixes.set(prefix, (m = new Map()));
    return m;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.writing.then(() => this.save());
    }, this.delayMs);
    this.timer.unref();
  }

  private async save(): Promise<void> {
    const watched = new Set(this.watched());
    for (const p of this.prefixes.keys()) if (!watched.has(p)) this.prefixes.delete(p);
    // What is written is the contents as of now, as one consistent snapshot (entries, not their text: small).
    const savedAt = isoTime();
    const snapshot: [string, [string, string][]][] = [...this.prefixes].map(([p, m]) => [p, [...m]]);
    const tmp = `${this.path}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const fh = await open(tmp, 'w', 0o600);
      try {
        for (const chunk of this.text(savedAt, snapshot)) await fh.write(chunk);
        // On disk before the rename: a crash or power loss leaves the old file or the new one, never half.
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'could not write the topology cache');
    }
  }

  /**
   * The file's text — exactly JSON.stringify of a CacheFile — in pieces of ~64 KB. Not one string: with 1,000
   * ports it is ~1 MB, made again a moment after each change of a burst, and a string that large goes straight
   * to V8's old generation, where it stays until a full collection (seconds later, several of them by then).
   * Each piece is made when the previous one is written, from the snapshot taken before the first.
   */
  private *text(savedAt: string, snapshot: [string, [string, string][]][]): Generator<string> {
    const head: Omit<CacheFile, 'prefixes'> = { format: FORMAT, chassis: this.chassis, savedAt };
    let out = JSON.stringify(head).slice(0, -1) + ',"prefixes":{';
    let firstPrefix = true;
    for (const [p, entries] of snapshot) {
      out += (firstPrefix ? '' : ',') + JSON.stringify(p) + ':[';
      firstPrefix = false;
      let first = true;
      for (const [key, value] of entries) {
        out += (first ? '' : ',') + '[' + JSON.stringify(key) + ',' + JSON.stringify(value) + ']';
        first = false;
        if (out.length >= CHUNK_CHARS) {
          yield out;
          out = '';
        }
      }
      out += ']';
    }
    yield out + '}}';
  }

  private load(): string | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err, path: this.path }, 'could not read the topology cache');
      return undefined;
    }
    try {
      const doc = JSON.parse(text) as CacheFile;
      if (doc.format !== FORMAT || typeof doc.prefixes !== 'object' || doc.prefixes === null)
        throw new Error(`unknown cache format ${String(doc.format)}`);
      // Another chassis's cache (a copied disk image) would program someone else's ports here.
      if (doc.chassis !== this.chassis) throw new Error(`cache belongs to chassis ${doc.chassis}`);
      for (const [p, entries] of Object.entries(doc.prefixes)) {
        if (!Array.isArray(entries)) throw new Error(`bad entries for ${p}`);
        this.prefixes.set(p, new Map(entries.filter((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string')));
      }
      return doc.savedAt;
    } catch (err) {
      this.prefixes.clear();
      this.logger.warn({ err, path: this.path }, 'ignoring an unreadable topology cache');
      return undefined;
    }
  }
}

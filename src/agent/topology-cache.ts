/**
 * The agent's last known topology, on local disk: the contents of every prefix it watches (chassis, routers,
 * its networks), kept in step with the store subscription and written atomically (temporary file, fsync,
 * rename) a moment after each change. An agent started while the store is unreachable starts from it
 * (PrefixSubscription's fallback), so a hypervisor reboot during a store outage still programs its switch.
 * It holds nothing beyond what this agent watches, and only what the store holds (no credentials).
 *
 * The contents live in the file, not in memory: the agent keeps only the changes since the last save, and each
 * save copies the previous file line by line, with those changes applied. Kept in memory as well, the documents'
 * text was ~0.7 MB per 1,000 bound ports, beside the same documents parsed in the view (docs/footprint.md,
 * sixteenth session). Reads (get(), only used while the store is unreachable) parse the file, and keep what they
 * parsed for a few seconds, as an outage start asks for several prefixes in a row. A start reads only the header.
 *
 * The file (format 2) is lines of JSON: a header `{"format":2,"chassis":…,"savedAt":…}`, then for each prefix a
 * line `[prefix]`, and each of its entries as `[prefix, key, value]`. A format 1 file (one JSON document, written
 * by earlier versions) is read as well, and replaced by format 2 at the first save.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { decodePort } from '../model/codec.js';
import { encodeClaim } from '../model/read.js';
import { CHASSIS_PREFIX, FIPS_PREFIX, GATEWAYS_PREFIX, namesPrefix, parseKey, ROUTERS_PREFIX } from '../model/keys.js';
import type { SubscriptionEvent } from '../store/subscription.js';
import type { KeyValue } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { isoTime } from '../util/time.js';

const FORMAT = 2;
/** Lists whose members lazy sync watches one key at a time. */
const ONE_KEY_PREFIXES = [CHASSIS_PREFIX, ROUTERS_PREFIX, GATEWAYS_PREFIX, FIPS_PREFIX];
const NEWLINE = Buffer.from('\n');
/** Bytes read for the header when the cache is made (a format 2 header is ~100). */
const HEADER_BYTES = 4096;
/** How long what get() parsed is kept for the next get() (an outage start reads several prefixes in a row). */
const PARSED_KEEP_MS = 5_000;

/** Contents by prefix, then by key. */
type Contents = Map<string, Map<string, string>>;

/** A prefix's changes since the last save: its whole new contents (a snapshot), or keys put (value) and deleted (null). */
interface PrefixChanges {
  whole: boolean;
  entries: Map<string, string | null>;
}

interface Header {
  format: number;
  chassis: string;
  savedAt: string;
}

/** One line of a format 2 file: a prefix, or one of its entries. */
type Line = [prefix: string] | [prefix: string, key: string, value: string];

function parseLine(text: string): Line {
  const l = JSON.parse(text) as unknown;
  if (
    !Array.isArray(l) ||
    typeof l[0] !== 'string' ||
    (l.length !== 1 && (l.length !== 3 || typeof l[1] !== 'string' || typeof l[2] !== 'string'))
  )
    throw new Error(`not a cache line: ${text.slice(0, 80)}`);
  return l as Line;
}

export class TopologyCache {
  /** Changes since the last save began, by prefix. */
  private changes = new Map<string, PrefixChanges>();
  /** The changes the save in progress is writing (a read meanwhile sees them over the file it has not replaced yet). */
  private saving: Map<string, PrefixChanges> | undefined;
  /** What the file holds, as get() last parsed it (dropped after PARSED_KEEP_MS, and at each save). */
  private parsed: Contents | undefined;
  private parsedTimer: NodeJS.Timeout | undefined;
  /** The file is this chassis's and readable: a save copies it. Otherwise a save writes the changes only. */
  private fileUsable: boolean;
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
    // Only the header is read now: an agent whose store answers never reads the rest (a restarted host with 1,000
    // ports would parse ~1 MB on its way to its first flows), and one started during an outage reads it at its first get().
    const head = this.readHeader();
    this.fileUsable = head !== undefined;
    this.loadedFrom = head?.savedAt;
  }

  /**
   * The cached contents of a prefix, as a store read would give them (revisions unknown: 0). A port's name (or
   * id) key is not kept once the port is bound (its network's watch covers it), so it is answered from the cached port
   * documents: a VIF plugged during an outage, or present at a restart, finds its port.
   */
  get(prefix: string): KeyValue[] | undefined {
    const contents = this.contents();
    const m = contents.get(prefix);
    if (m) return [...m].map(([key, value]) => ({ key, value, createRevision: 0, modRevision: 0 }));
    // One chassis's, router's, gateway lease's or FIP's key (lazy sync): from any cached prefix holding it (a cache
    // written before lazy sync of these has the whole list), else absent — a key not cached must not hold back the
    // cached topology.
    if (ONE_KEY_PREFIXES.some((p) => prefix.startsWith(p) && prefix !== p) && contents.size > 0) {
      for (const held of contents.values()) {
        const value = held.get(prefix);
        if (value !== undefined) return [{ key: prefix, value, createRevision: 0, modRevision: 0 }];
      }
      return [];
    }
    const name = prefix.startsWith(namesPrefix('port')) ? prefix.slice(namesPrefix('port').length) : undefined;
    const port = name === undefined ? undefined : findPort(contents, name);
    if (!port) return undefined;
    return [{ key: prefix, value: encodeClaim({ id: port.id, networkId: port.networkId }), createRevision: 0, modRevision: 0 }];
  }

  /** Follows the subscription; cached snapshots are what the cache already holds. */
  apply(ev: SubscriptionEvent): void {
    switch (ev.type) {
      case 'snapshot':
      case 'resync':
        if (ev.type === 'snapshot' && ev.cached) return;
        this.changes.set(ev.prefix, { whole: true, entries: new Map(ev.kvs.map((kv) => [kv.key, kv.value])) });
        break;
      case 'put':
        this.changed(ev.prefix).set(ev.kv.key, ev.kv.value);
        break;
      case 'delete':
        this.changed(ev.prefix).set(ev.key, null);
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

  private changed(prefix: string): Map<string, string | null> {
    let c = this.changes.get(prefix);
    if (!c) this.changes.set(prefix, (c = { whole: false, entries: new Map() }));
    return c.entries;
  }

  /** The file's contents (parsed now, or kept from a moment ago) with the changes not saved yet. */
  private contents(): Contents {
    let file = this.parsed;
    if (!file) {
      file = this.fileUsable ? (this.load()?.contents ?? new Map<string, Map<string, string>>()) : new Map<string, Map<string, string>>();
      this.keepParsed(file);
    }
    if (this.changes.size === 0 && !this.saving) return file;
    const out: Contents = new Map(file);
    for (const changes of [this.saving, this.changes]) {
      for (const [prefix, c] of changes ?? []) {
        const held = out.get(prefix);
        // Changes to a prefix the file does not hold (it was lost meanwhile) are not its whole contents: left out.
        if (!c.whole && !held) continue;
        const m = new Map(c.whole ? [] : held);
        for (const [key, value] of c.entries) {
          if (value === null) m.delete(key);
          else m.set(key, value);
        }
        out.set(prefix, m);
      }
    }
    return out;
  }

  private keepParsed(contents: Contents): void {
    this.parsed = contents;
    clearTimeout(this.parsedTimer);
    this.parsedTimer = setTimeout(() => (this.parsed = undefined), PARSED_KEEP_MS);
    this.parsedTimer.unref();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.writing.then(() => this.save());
    }, this.delayMs);
    this.timer.unref();
  }

  /**
   * Writes the previous file's lines with the changes applied, leaving out prefixes no longer watched. The changes
   * are taken at the start: those made while it writes go to the next save. On failure they are put back, under any
   * made since, so the next save writes them. A prefix is only ever written whole: from the previous file with its
   * changes, or from a snapshot.
   */
  private async save(): Promise<void> {
    const changes = this.changes;
    this.changes = new Map();
    this.saving = changes;
    const watched = new Set(this.watched());
    const tmp = `${this.path}.tmp`;
    try {
      // Buffers, off V8's heap: the previous file as read, the lines kept as slices of it, the new ones made here.
      const parts: Buffer[] = [
        Buffer.from(JSON.stringify({ format: FORMAT, chassis: this.chassis, savedAt: isoTime() } satisfies Header) + '\n'),
      ];
      const copied = new Set<string>();
      if (this.fileUsable) {
        for (const { prefix, key, bytes } of await this.previousLines()) {
          if (!watched.has(prefix)) continue;
          const c = changes.get(prefix);
          if (key === undefined) copied.add(prefix);
          else if (c && (c.whole || c.entries.has(key))) continue;
          parts.push(bytes);
        }
      }
      const added: string[] = [];
      for (const [prefix, c] of changes) {
        if (!watched.has(prefix)) continue;
        // A prefix is written whole or not at all: changes to one the previous file does not hold (someone deleted
        // the file, or it could not be read) would read as its whole contents at a start during an outage.
        if (!copied.has(prefix) && !c.whole) {
          this.logger.warn(
            { path: this.path, prefix },
            'topology cache: the file lost this prefix; left out until its next snapshot (a restart writes it whole)',
          );
          continue;
        }
        if (!copied.has(prefix)) added.push(JSON.stringify([prefix]));
        for (const [key, value] of c.entries) if (value !== null) added.push(JSON.stringify([prefix, key, value]));
      }
      if (added.length > 0) parts.push(Buffer.from(added.join('\n') + '\n'));
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const out = await open(tmp, 'w', 0o600);
      try {
        await out.write(Buffer.concat(parts));
        // On disk before the rename: a crash or power loss leaves the old file or the new one, never half.
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(tmp, this.path);
      this.fileUsable = true;
    } catch (err) {
      this.putBack(changes);
      this.logger.warn({ err, path: this.path }, 'could not write the topology cache');
    } finally {
      this.saving = undefined;
      clearTimeout(this.parsedTimer);
      this.parsed = undefined;
    }
  }

  /**
   * The previous file's lines, each with its prefix and key (none: the prefix's own line) and its bytes, newline
   * included. A format 1 file is given as format 2 lines. A line that cannot be read ends the lines (logged): what
   * follows is lost, as the whole file was when it could not be read.
   */
  private async previousLines(): Promise<{ prefix: string; key: string | undefined; bytes: Buffer }[]> {
    let file: Buffer;
    try {
      file = await readFile(this.path);
    } catch (err) {
      this.notRead(err);
      return [];
    }
    const lines: { prefix: string; key: string | undefined; bytes: Buffer }[] = [];
    let at = file.indexOf(0x0a);
    if (at < 0 || !file.subarray(0, at).toString('utf8').startsWith(`{"format":${FORMAT},`)) {
      // Format 1 (one document: parsed whole, after an upgrade), or a header this version did not write.
      for (const [prefix, m] of this.parse(file.toString('utf8'))?.contents ?? []) {
        lines.push({ prefix, key: undefined, bytes: Buffer.from(JSON.stringify([prefix]) + '\n') });
        for (const [key, value] of m) lines.push({ prefix, key, bytes: Buffer.from(JSON.stringify([prefix, key, value]) + '\n') });
      }
      return lines;
    }
    try {
      for (let start = at + 1; start < file.length; start = at + 1) {
        at = file.indexOf(0x0a, start);
        if (at < 0) at = file.length;
        if (at === start) continue;
        const l = parseLine(file.toString('utf8', start, at));
        // A last line without its newline (not as this version writes) gets one: the next line starts on its own.
        const bytes = at < file.length ? file.subarray(start, at + 1) : Buffer.concat([file.subarray(start, at), NEWLINE]);
        lines.push({ prefix: l[0], key: l[1], bytes });
      }
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'the topology cache could not be read to the end; its rest is not kept');
    }
    return lines;
  }

  private putBack(changes: Map<string, PrefixChanges>): void {
    for (const [prefix, c] of changes) {
      const later = this.changes.get(prefix);
      if (later?.whole) continue;
      this.changes.set(prefix, later ? { whole: c.whole, entries: new Map([...c.entries, ...later.entries]) } : c);
    }
  }

  /**
   * The file's header, if it is a cache of this chassis in a format this version reads; undefined otherwise (logged,
   * as load() does). A format 1 file is one line: it is read whole.
   */
  private readHeader(): Header | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      return this.notRead(err);
    }
    let first: string;
    try {
      const buf = Buffer.allocUnsafe(HEADER_BYTES);
      const n = readSync(fd, buf, 0, HEADER_BYTES, 0);
      const nl = buf.subarray(0, n).indexOf(0x0a);
      if (nl < 0) return this.load(); // format 1, or a header longer than any this version writes
      first = buf.toString('utf8', 0, nl);
    } catch (err) {
      return this.notRead(err);
    } finally {
      closeSync(fd);
    }
    try {
      return this.checked(JSON.parse(first) as Header, [FORMAT]);
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'ignoring an unreadable topology cache');
      return undefined;
    }
  }

  /** A file that cannot be read is as none (logged, unless it is not there). */
  private notRead(err: unknown): undefined {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err, path: this.path }, 'could not read the topology cache');
    return undefined;
  }

  /** `head` if it is of one of these formats and this chassis's; throws otherwise. */
  private checked<H extends Header>(head: H, formats: number[]): H {
    if (!formats.includes(head.format)) throw new Error(`unknown cache format ${String(head.format)}`);
    // Another chassis's cache (a copied disk image) would program someone else's ports here.
    if (head.chassis !== this.chassis) throw new Error(`cache belongs to chassis ${head.chassis}`);
    return head;
  }

  /** The file, parsed whole (format 2, or 1 from earlier versions); undefined when absent or not usable. */
  private load(): (Header & { contents: Contents }) | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      return this.notRead(err);
    }
    return this.parse(text);
  }

  /** A file's text parsed whole; undefined when it is not usable (logged). */
  private parse(text: string): (Header & { contents: Contents }) | undefined {
    try {
      const nl = text.indexOf('\n');
      const head = this.checked(JSON.parse(nl < 0 ? text : text.slice(0, nl)) as Header & { prefixes?: unknown }, [FORMAT, 1]);
      const contents: Contents = new Map();
      if (head.format === 1) {
        const prefixes = head.prefixes;
        if (typeof prefixes !== 'object' || prefixes === null) throw new Error('format 1 cache without prefixes');
        for (const [p, entries] of Object.entries(prefixes)) {
          if (!Array.isArray(entries)) throw new Error(`bad entries for ${p}`);
          contents.set(p, new Map(entries.filter((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string')));
        }
      } else {
        for (const line of text.slice(nl + 1).split('\n')) {
          if (line === '') continue;
          const l = parseLine(line);
          let m = contents.get(l[0]);
          if (!m) contents.set(l[0], (m = new Map()));
          if (l.length === 3) m.set(l[1], l[2]);
        }
      }
      return { format: head.format, chassis: head.chassis, savedAt: head.savedAt, contents };
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'ignoring an unreadable topology cache');
      return undefined;
    }
  }
}

/** A port named (or with the id) `name` in the cached port documents. */
function findPort(contents: Contents, name: string): { id: string; networkId: string } | undefined {
  for (const m of contents.values()) {
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

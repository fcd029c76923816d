/**
 * Which of the node binary's pages a process has resident, by part of the binary: machine code (.text), the ICU
 * data (`icudt*_dat`, ~33 MB of .rodata: touched by Intl, toLocaleString, localeCompare, …), the rest of .rodata,
 * and the rest (data, relocations). From /proc/PID/maps and /proc/PID/pagemap (present bit; needs root) and the
 * binary's section and symbol tables (readelf).
 */
import { execFile } from 'node:child_process';
import { open, readFile, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';

type Range = [start: number, end: number];
const layouts = new Map<string, { text: Range; rodata: Range; icu?: Range }>();

async function layoutOf(exe: string): Promise<{ text: Range; rodata: Range; icu?: Range }> {
  const known = layouts.get(exe);
  if (known) return known;
  const run = async (args: string[]) => (await promisify(execFile)('readelf', args, { maxBuffer: 256 << 20 })).stdout;
  const sections = new Map<string, { addr: number; off: number; size: number }>();
  for (const m of (await run(['-S', '-W', exe])).matchAll(/\]\s+(\.\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/g))
    sections.set(m[1]!, { addr: parseInt(m[2]!, 16), off: parseInt(m[3]!, 16), size: parseInt(m[4]!, 16) });
  const range = (n: string): Range => {
    const s = sections.get(n);
    return s ? [s.off, s.off + s.size] : [0, 0];
  };
  const ro = sections.get('.rodata');
  const sym = /^\s*\d+:\s+([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+OBJECT.*\sicudt\w*_dat$/m.exec(await run(['-s', '-W', exe]));
  const icu: Range | undefined =
    sym && ro ? [ro.off + parseInt(sym[1]!, 16) - ro.addr, ro.off + parseInt(sym[1]!, 16) - ro.addr + Number(sym[2])] : undefined;
  const l = { text: range('.text'), rodata: range('.rodata'), ...(icu ? { icu } : {}) };
  layouts.set(exe, l);
  return l;
}

export interface NodePages {
  text: number;
  icu: number;
  rodata: number;
  other: number;
}

/** MB of the node binary resident in process `pid`, by part. */
export async function nodeBinaryPages(pid: number): Promise<NodePages> {
  const exe = await readlink(`/proc/${pid}/exe`);
  const l = await layoutOf(exe);
  const pages = { text: 0, icu: 0, rodata: 0, other: 0 };
  const pm = await open(`/proc/${pid}/pagemap`, 'r');
  try {
    for (const line of (await readFile(`/proc/${pid}/maps`, 'utf8')).split('\n')) {
      const f = line.split(/\s+/);
      if (f[5] !== exe) continue;
      const [a, b] = f[0]!.split('-').map((x) => parseInt(x, 16)) as [number, number];
      const off = parseInt(f[2]!, 16);
      const n = (b - a) / 4096;
      const buf = Buffer.alloc(n * 8);
      await pm.read(buf, 0, buf.length, (a / 4096) * 8);
      for (let i = 0; i < n; i++) {
        if (buf.readBigUInt64LE(i * 8) >> 63n === 0n) continue;
        const fo = off + i * 4096;
        const inR = (r: Range | undefined) => r !== undefined && fo >= r[0] && fo < r[1];
        if (inR(l.icu)) pages.icu++;
        else if (inR(l.text)) pages.text++;
        else if (inR(l.rodata)) pages.rodata++;
        else pages.other++;
      }
    }
  } finally {
    await pm.close();
  }
  const mb = (p: number) => Math.round((p * 4096) / 104857.6) / 10;
  return { text: mb(pages.text), icu: mb(pages.icu), rodata: mb(pages.rodata), other: mb(pages.other) };
}

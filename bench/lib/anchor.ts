/**
 * Runs the OVN anchor (/work/shared/anchors/ovn/run.sh) as a child process and parses its
 * `metric value unit` lines. Its progress ("# ..." on stderr) is forwarded, prefixed, when `echo` is set.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ensureOvnPackages } from './ovn-central.js';

export interface AnchorResult {
  metrics: Map<string, { value: number; unit: string }>;
  /** "# ..." lines of stdout (the sample lists and the version line). */
  notes: string[];
  /** Its progress lines (stderr). */
  progress: string[];
  code: number;
}

export const OVN_ANCHOR = process.env.OVN_ANCHOR ?? '/work/shared/anchors/ovn/run.sh';

export function parseMetricLines(text: string): Pick<AnchorResult, 'metrics' | 'notes'> {
  const metrics = new Map<string, { value: number; unit: string }>();
  const notes: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      notes.push(line);
      continue;
    }
    const m = /^([a-z0-9_]+) (-?[0-9.]+) (\S+)$/.exec(line.trim());
    if (m) metrics.set(m[1]!, { value: Number(m[2]), unit: m[3]! });
  }
  return { metrics, notes };
}

export async function runOvnAnchor(
  opts: { env?: NodeJS.ProcessEnv; echo?: (line: string) => void; timeoutMs?: number } = {},
): Promise<AnchorResult> {
  if (!existsSync(OVN_ANCHOR)) throw new Error(`OVN anchor not found at ${OVN_ANCHOR}`);
  await ensureOvnPackages((s) => opts.echo?.(`# ${s}`));
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [OVN_ANCHOR], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errPending = '';
    const progress: string[] = [];
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => {
      const lines = (errPending + b.toString('utf8')).split('\n');
      errPending = lines.pop()!;
      for (const l of lines) {
        progress.push(l);
        opts.echo?.(l);
      }
    });
    // SIGTERM lets run.sh's trap clean up its daemons and namespaces.
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs ?? 180_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      const parsed = parseMetricLines(out);
      if (code !== 0 && parsed.metrics.size === 0) return reject(new Error(`OVN anchor exited with ${code}`));
      resolve({ ...parsed, progress, code: code ?? -1 });
    });
  });
}

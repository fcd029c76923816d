import { execFile } from 'node:child_process';

/** Result of a finished command, whatever its exit status. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A command that exited non-zero (or could not be started): carries the command line and its output. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly cmd: readonly string[],
    readonly code: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`command failed (exit ${code}): ${cmd.join(' ')}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
  }
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Milliseconds before the command is killed (default 60 s): a hung ovs-vsctl must not hang a test forever. */
  timeoutMs?: number;
}

/** Runs a command without a shell and resolves with its output and exit code (never rejects on exit status). */
export function execCmd(cmd: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [file, ...args] = cmd;
  if (file === undefined) return Promise.reject(new Error('execCmd: empty command'));
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr, code: 0 });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
        // A spawn failure (ENOENT) has a string code; a killed process has a null exit code.
        const code = typeof e.code === 'number' ? e.code : 127;
        resolve({
          stdout: stdout ?? '',
          stderr: (stderr ?? '') + (typeof e.code === 'string' ? e.message : '') + (e.killed ? ' (killed: timeout)' : ''),
          code,
        });
      },
    );
  });
}

/** Runs a command and resolves with its stdout; rejects with CommandError on a non-zero exit. */
export async function run(cmd: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await execCmd(cmd, opts);
  if (r.code !== 0) throw new CommandError(cmd, r.code, r.stdout, r.stderr);
  return r.stdout;
}

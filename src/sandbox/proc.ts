import { readFile } from 'node:fs/promises';

/** Polls `check` with a growing interval (2 ms … 100 ms) until it returns true or `timeoutMs` passes. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** The pid written in a pidfile, or undefined if the file is missing or unreadable. */
export async function readPidfile(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/pid/stat): with the pid it identifies a process. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** True if the process exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The NUL-separated command line of a process, joined with spaces ('' if gone). */
export async function cmdline(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return '';
  }
}

/** A process we started, identified by pid and start time so that a recycled pid is never killed. */
export interface ProcRef {
  pid: number;
  startTime?: number;
}

/** True if `ref` still names the same live process (same start time when one was recorded). */
export async function isSameProcess(ref: ProcRef): Promise<boolean> {
  if (!(await isAlive(ref.pid))) return false;
  if (ref.startTime === undefined) return true;
  return (await processStartTime(ref.pid)) === ref.startTime;
}

/**
 * Sends `signal` to one pid and waits until it is gone; escalates to SIGKILL after `graceMs`.
 * Missing processes are fine: teardown must succeed when parts are already gone.
 */
export async function killAndWait(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  const send = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      /* already gone */
    }
  };
  send(signal);
  try {
    await waitFor(`pid ${pid} to exit`, async () => !(await isAlive(pid)), graceMs);
  } catch {
    send('SIGKILL');
    await waitFor(`pid ${pid} to exit after SIGKILL`, async () => !(await isAlive(pid)), 5_000);
  }
}

/** Runs the built `wyvern` command (dist/, as installed) as a process, with none of the caller's WYVERN_* env. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WYVERN_CLI = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist/src/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without WYVERN_* (a test's settings must not leak into the command), plus `env`. */
export function cleanEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WYVERN_'))), ...env };
}

export function wyvern(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [WYVERN_CLI, ...args], { env: cleanEnv(env), timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

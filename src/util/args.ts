/**
 * Command-line flags, one way for every wyvern command: node:util parseArgs, strict (an unknown flag or a
 * missing value is an error naming the flag), turned into a UsageError the command reports with its usage and
 * exit status 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that does not fit the command's usage (exit status 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagOptions = NonNullable<ParseArgsConfig['options']>;

export interface ParsedFlags {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Strict parse of `argv` against `options`; positionals only when allowed. Throws UsageError. */
export function parseFlags(argv: string[], options: FlagOptions, opts: { positionals?: boolean } = {}): ParsedFlags {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: opts.positionals ?? true, strict: true });
    return { values: r.values as ParsedFlags['values'], positionals: r.positionals };
  } catch (e) {
    // Node appends a hint about '--' to unknown-option errors; the flag's name is what the user needs.
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, ''));
  }
}

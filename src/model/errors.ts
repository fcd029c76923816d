/** Why a model request was refused; the API maps codes to 400 / 404 / 409 / 412. */
export type ModelErrorCode = 'INVALID' | 'NOT_FOUND' | 'CONFLICT' | 'PRECONDITION_FAILED';

/** One thing wrong with a request: its field (e.g. "subnets[2].gatewayIp") and why. */
export interface Problem {
  code: ModelErrorCode;
  field?: string;
  message: string;
}

export class ModelError extends Error {
  constructor(
    readonly code: ModelErrorCode,
    message: string,
    /** The request field at fault, e.g. "cidr" or "fixedIps[1].ip". */
    readonly field?: string,
    /** Every problem found when there is more than one (the message summarises them). */
    readonly problems?: readonly Problem[],
  ) {
    super(message);
    this.name = 'ModelError';
  }

  toJSON(): { code: ModelErrorCode; field?: string; message: string; problems?: readonly Problem[] } {
    return {
      code: this.code,
      ...(this.field !== undefined ? { field: this.field } : {}),
      message: this.message,
      ...(this.problems !== undefined ? { problems: this.problems } : {}),
    };
  }
}

export const invalid = (field: string | undefined, message: string): ModelError => new ModelError('INVALID', message, field);
export const notFound = (field: string | undefined, message: string): ModelError => new ModelError('NOT_FOUND', message, field);
export const conflict = (field: string | undefined, message: string): ModelError => new ModelError('CONFLICT', message, field);
/** A conditional write (If-Match) whose object is no longer at the revision named (precondition.ts). */
export const preconditionFailed = (message: string): ModelError => new ModelError('PRECONDITION_FAILED', message);

/** Summaries list this many problems; the full list is in `problems`. */
const SHOWN = 10;

/**
 * Collects the problems of a request instead of stopping at the first, so an operator fixes a file
 * (or a request body) in one round instead of one error per attempt.
 */
export class Problems {
  readonly list: Problem[] = [];

  /** Runs one check: a ModelError is recorded (its field under `prefix`) and undefined returned; anything else propagates. */
  run<T>(fn: () => T, prefix = '', label = ''): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      this.add(e, prefix, label);
      return undefined;
    }
  }

  /** Records `e` (each of its problems if it carries several), fields under `prefix`, messages after `label`. */
  add(e: ModelError, prefix = '', label = ''): void {
    const items: readonly Problem[] = e.problems ?? [
      { code: e.code, ...(e.field !== undefined ? { field: e.field } : {}), message: e.message },
    ];
    for (const p of items) {
      const field = p.field === undefined ? (prefix ? prefix.replace(/\.$/, '') : undefined) : prefix + p.field;
      this.list.push({ code: p.code, ...(field !== undefined ? { field } : {}), message: label ? `${label}: ${p.message}` : p.message });
    }
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  /** Nothing recorded: returns. One problem: throws it as is. Several: one ModelError listing them all. */
  throwIfAny(what = 'request'): void {
    const n = this.list.length;
    if (n === 0) return;
    const first = this.list[0]!;
    if (n === 1) throw new ModelError(first.code, first.message, first.field);
    // INVALID wins: a conflict only means something once the request itself is well-formed.
    const code = this.list.some((p) => p.code === 'INVALID') ? 'INVALID' : first.code;
    const shown = this.list.slice(0, SHOWN).map((p) => (p.field !== undefined ? `${p.field}: ${p.message}` : p.message));
    const more = n > SHOWN ? `; and ${n - SHOWN} more (see problems)` : '';
    throw new ModelError(code, `${what} has ${n} problems: ${shown.join('; ')}${more}`, first.field, [...this.list]);
  }
}

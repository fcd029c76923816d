/** Why a model request was refused; the API maps codes to 400 / 404 / 409. */
export type ModelErrorCode = 'INVALID' | 'NOT_FOUND' | 'CONFLICT';

export class ModelError extends Error {
  constructor(
    readonly code: ModelErrorCode,
    message: string,
    /** The request field at fault, e.g. "cidr" or "fixedIps[1].ip". */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ModelError';
  }

  toJSON(): { code: ModelErrorCode; field?: string; message: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, field: this.field, message: this.message };
  }
}

export const invalid = (field: string | undefined, message: string): ModelError =>
  new ModelError('INVALID', message, field);
export const notFound = (field: string | undefined, message: string): ModelError =>
  new ModelError('NOT_FOUND', message, field);
export const conflict = (field: string | undefined, message: string): ModelError =>
  new ModelError('CONFLICT', message, field);

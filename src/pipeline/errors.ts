/** A pipeline document, or a flow or name checked against it, breaks a rule; the message names what and where. */
export class PipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PipelineError';
  }
}

// Errors in the OpenAI API's format: {"error": {"message", "type", "param", "code"}} with the
// HTTP status that goes with them.
import { ModelLoadError, OverloadedError, ValidationError } from '../errors.js';

export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** HTTP headers that go with the error (e.g. Retry-After on a 503). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  toJSON() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Any error from the engine or validation, as an OpenAIError (unknown errors become 500s). */
export function toOpenAIError(error: unknown): OpenAIError {
  if (error instanceof OpenAIError) return error;
  if (error instanceof ValidationError) return new OpenAIError(400, error.message, 'invalid_request_error', error.field);
  if (error instanceof OverloadedError) {
    const retry = { 'retry-after': String(error.retryAfterSeconds) };
    return new OpenAIError(503, error.message, 'server_error', null, 'server_overloaded', retry);
  }
  if (error instanceof ModelLoadError) return new OpenAIError(500, error.message, 'server_error');
  const message = error instanceof Error ? error.message : String(error);
  return new OpenAIError(500, message, 'server_error');
}

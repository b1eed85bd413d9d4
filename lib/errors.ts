// Errors that reach callers of the library. A ValidationError names the request field at fault,
// so the HTTP layer can turn it into an OpenAI error with `param` set.

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** An empty string, list or object as an error message says what it received ("an empty list"); undefined for any other value. */
export function describeEmpty(value: unknown): string | undefined {
  if (value === '') return 'an empty string';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : undefined;
  if (value !== null && typeof value === 'object' && Object.keys(value).length === 0) return 'an empty object';
  return undefined;
}

/** The model or its files cannot be used (unsupported architecture, missing weights, ...). */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

/**
 * The engine has more work waiting than it takes (the waiting-sequence bound): try again later.
 * HTTP answers it with 503 and a Retry-After header; the worker fails the job with it.
 */
export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
  constructor(
    message: string,
    /** A hint for when to try again, in whole seconds (at least 1). */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

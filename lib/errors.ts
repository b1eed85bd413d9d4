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

/** The model or its files cannot be used (unsupported architecture, missing weights, ...). */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

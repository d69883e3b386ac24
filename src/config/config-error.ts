/** A bad flag or environment variable: the CLI prints the message and exits 2, no stack trace. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

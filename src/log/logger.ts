import { pino, type Logger } from "pino";

export type { Logger };

/**
 * The process logger: pino JSON lines on stdout, written asynchronously so a slow
 * terminal never stalls the event loop. Call `flushLogger()` before exiting.
 * Nothing on the hot path logs: count in metrics instead.
 */
const destination = pino.destination({ dest: 1, sync: false });

export const logger: Logger = pino(
  {
    level: process.env.LOG_LEVEL ?? "info",
    base: { pid: process.pid },
    // Tokens must never reach a log line, wherever a caller puts them.
    redact: {
      paths: ["token", "*.token", "authorization", "*.authorization", "cookie", "*.cookie", "req.headers.authorization", "req.headers.cookie", "config.authHs256Secret", "config.natsPassword"],
      censor: "[redacted]",
    },
  },
  destination,
);

export function flushLogger(): void {
  try {
    destination.flushSync();
  } catch {
    // The destination may not be ready yet (nothing written): nothing to flush.
  }
}

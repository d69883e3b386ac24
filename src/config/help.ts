/** One row of a command's help: the flag, its environment variable, what it means, its default. */
export interface HelpRow {
  readonly flag: string;
  /** Empty when the option has no environment variable (`--help`). */
  readonly env: string;
  readonly help: string;
  readonly default?: string | number | readonly string[] | undefined;
}

/** Environment variables every command reads besides its options. */
const COMMON_ENV = `environment:
  LOG_LEVEL   pino level of the JSON log lines on stdout: fatal, error, warn, info (default), debug, trace, silent`;

/** The help of `serve` and `feed`, in one format: flags win over environment variables, which win over defaults. */
export function commandHelp(command: string, summary: string, rows: readonly HelpRow[]): string {
  const lines = rows.map((r) => {
    const def = Array.isArray(r.default) ? r.default.join(",") : r.default;
    const shown = def === undefined || def === "" ? "" : ` (default ${def})`;
    return `  --${r.flag.padEnd(24)} ${r.env.padEnd(34)} ${r.help}${shown}`;
  });
  return `usage: quotecast ${command} [options]\n\n${summary}\n\noptions (flag, environment variable; flags win):\n${lines.join("\n")}\n  -h, --help\n\n${COMMON_ENV}\n`;
}

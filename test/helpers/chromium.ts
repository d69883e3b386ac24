import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

/**
 * Headless Chromium for the browser tests, found the way `npm start` finds nats-server:
 * QUOTECAST_CHROMIUM if set, else a Chromium or Chrome on PATH or in its usual places, else
 * installed with apt-get where we may (root on Debian/Ubuntu). Otherwise `how` says exactly what
 * to do, and the caller skips (or fails, with QUOTECAST_REQUIRE_CHROMIUM=1 as .ci/run sets).
 */
export type ChromiumLookup = { readonly path: string } | { readonly path?: undefined; readonly how: string };

const NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"];
const PLACES = ["/usr/bin/chromium", "/usr/lib/chromium/chromium", "/snap/bin/chromium", "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", "/Applications/Chromium.app/Contents/MacOS/Chromium"];

export const HOW_TO_INSTALL = [
  "the browser tests need Chromium (or Chrome) and found none. Either:",
  "  Debian/Ubuntu:  sudo apt-get install -y chromium   (as root, npm test installs it itself)",
  "  macOS:          brew install --cask chromium",
  "  any system:     QUOTECAST_CHROMIUM=/path/to/chrome npm test",
].join("\n");

let cached: ChromiumLookup | undefined;

export function findChromium(): ChromiumLookup {
  if (cached !== undefined) return cached;
  const fromEnv = process.env.QUOTECAST_CHROMIUM;
  if (fromEnv !== undefined && fromEnv !== "") {
    cached = executable(fromEnv) ? { path: fromEnv } : { how: `QUOTECAST_CHROMIUM=${fromEnv} is not an executable file` };
    return cached;
  }
  const found = lookup();
  if (found !== undefined) return (cached = { path: found });
  cached = install();
  return cached;
}

function lookup(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of NAMES) if (dir !== "" && executable(join(dir, name))) return join(dir, name);
  }
  return PLACES.find(executable);
}

function install(): ChromiumLookup {
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const aptGet = ["/usr/bin/apt-get", "/bin/apt-get"].find(executable);
  if (!root || aptGet === undefined || !debianLike()) return { how: HOW_TO_INSTALL };
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "chromium"]]) {
    // stdout to stderr: tap reads the test's stdout as TAP.
    const r = spawnSync(aptGet, args, { stdio: ["ignore", 2, 2], env, timeout: 15 * 60_000 });
    if (r.status !== 0) return { how: `apt-get ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}).\n${HOW_TO_INSTALL}` };
  }
  const path = lookup();
  return path !== undefined ? { path } : { how: `apt-get installed chromium but no binary was found.\n${HOW_TO_INSTALL}` };
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return existsSync(path);
  } catch {
    return false;
  }
}

function debianLike(): boolean {
  if (existsSync("/etc/debian_version")) return true;
  try {
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(readFileSync("/etc/os-release", "utf8"));
  } catch {
    return false;
  }
}

/** Flags for headless Chromium on a machine with no network beyond loopback (background requests are refused). */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * The Chromium a browser test file runs: found on PATH or installed (root on Debian). Without one
 * the file is skipped with how to install it (it plans no test and exits), or fails where a browser
 * is required (`QUOTECAST_REQUIRE_CHROMIUM=1`, as .ci/run sets, or `QUOTECAST_CHROMIUM` given).
 */
export function chromiumForTest(t: { plan(n: number, why: string): void }): string {
  const lookup = findChromium();
  if (lookup.path !== undefined) return lookup.path;
  if (process.env.QUOTECAST_REQUIRE_CHROMIUM === "1" || process.env.QUOTECAST_CHROMIUM) throw new Error(lookup.how);
  t.plan(0, lookup.how);
  process.exit(0);
}

/**
 * Chromium whose tabs the Page Lifecycle applies to: started here with a DevTools port and joined
 * with `connectOverCDP(..., { noDefaults: true })`, so that Playwright enables no focus emulation in
 * its default context. (Playwright's focus emulation counts as a visible capture: a page never goes
 * hidden, and `Page.setWebLifecycleState` with `frozen` does nothing.) Its tabs are tabs of one
 * window: all but the one opened last are hidden, as background tabs are, and a frozen one gets
 * `freeze` and, when resumed, `resume`.
 */
export async function launchTabbedChromium(executable: string): Promise<{ browser: Browser; context: BrowserContext; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "quotecast-chromium-"));
  const proc = spawn(executable, [...CHROMIUM_ARGS, "--remote-debugging-port=0", `--user-data-dir=${dir}`, "about:blank"], { stdio: ["ignore", "ignore", "pipe"] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools endpoint in 20 s:\n${out}`)), 20_000);
    proc.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /DevTools listening on (ws:\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.on("exit", (code) => reject(new Error(`Chromium exited (${code}):\n${out}`)));
  });
  const browser = await chromium.connectOverCDP(endpoint, { noDefaults: true });
  return {
    browser,
    context: browser.contexts()[0]!,
    async close() {
      const exited = new Promise((resolve) => (proc.exitCode !== null ? resolve(undefined) : proc.once("exit", resolve)));
      // Browser.close lets Chromium shut its helper processes down and finish writing its profile.
      await browser
        .newBrowserCDPSession()
        .then((s) => s.send("Browser.close"))
        .catch(() => proc.kill());
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
}

import { createRequire } from "node:module";
import type * as UWS from "uWebSockets.js";

/**
 * uWebSockets.js, native or not at all. The package we install quietly falls back to a slow
 * pure-JS server (built on `ws`) when its binary does not load for this platform and Node ABI;
 * serving market data on that would look fine in a demo and fall over under load, so refuse.
 */
export class NativeUwsUnavailableError extends Error {
  override readonly name = "NativeUwsUnavailableError";
}

const require = createRequire(import.meta.url);

export interface NativeUws {
  readonly uws: typeof UWS;
  /** Absolute path of the loaded `.node` binary. */
  readonly binary: string;
}

export function loadNativeUws(): NativeUws {
  const uws = require("uWebSockets.js") as typeof UWS;
  // The native addon's functions are C++ bindings; the fallback's are JavaScript.
  const isNative = /\[native code\]/.test(Function.prototype.toString.call(uws.App));
  const binary = Object.keys(require.cache).find((p) => /uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/.test(p));
  if (!isNative || binary === undefined) {
    throw new NativeUwsUnavailableError(
      `the native uWebSockets.js binary did not load for ${process.platform}-${process.arch} with Node ABI ` +
        `${process.versions.modules} (Node ${process.versions.node}); quotecast will not run on the slow JavaScript ` +
        `fallback. Use Node.js 20 on linux/darwin x64/arm64 and make sure UWS_USE_FALLBACK is not set.`,
    );
  }
  return { uws, binary };
}

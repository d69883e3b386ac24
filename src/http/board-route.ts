import { readdirSync, readFileSync } from "node:fs";
import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { boardPage } from "./board-page.js";
import { HttpError, NotFoundError } from "./errors.js";
import { contentTypeOf, etagMatches, staticAsset, type StaticAsset } from "./static-asset.js";

/** dist/, where `npm run build` put the board script (bundled with @quotecast/client) and its stylesheet. */
const DIST = new URL("../", import.meta.url);

/**
 * Asset URLs are not content-hashed, so a long max-age would keep an old board after an upgrade:
 * five minutes, then a revalidation that costs a 304.
 */
const ASSET_CACHE_CONTROL = "public, max-age=300";
/** The page is tiny and names the assets: always revalidate it (a 304 when unchanged). */
const PAGE_CACHE_CONTROL = "no-cache";

/**
 * The board runs with no inline script or style; it talks to this origin only.
 * `img-src data:` is for the empty favicon, which keeps browsers from asking for /favicon.ico.
 */
export const BOARD_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

export class BoardNotBuiltError extends HttpError {
  override readonly name = "BoardNotBuiltError";
  constructor(missing: readonly string[]) {
    super(500, `the board is not built (missing ${missing.join(", ")} in dist/): run npm run build`);
  }
}

export interface BoardAssets {
  readonly page: StaticAsset;
  /** URL path → asset: an allowlist fixed at start, never a file lookup by URL. */
  readonly assets: ReadonlyMap<string, StaticAsset>;
  /** Files that were not found in dist/ (a partial build); the board answers 500 then. */
  readonly missing: readonly string[];
}

/** Read the board from dist/ once, at worker start. */
export function loadBoardAssets(defaultSymbols: readonly string[], dist: URL = DIST): BoardAssets {
  const assets = new Map<string, StaticAsset>();
  const missing: string[] = [];
  const files = ["board/board.js", "board/board.css"];
  // Every script of the board (one bundle today, which includes the client package).
  for (const dir of ["board/"]) {
    try {
      for (const name of readdirSync(new URL(dir, dist))) if (name.endsWith(".js") && !files.includes(dir + name)) files.push(dir + name);
    } catch {
      missing.push(dir);
    }
  }
  for (const file of files) {
    try {
      assets.set("/assets/" + file, staticAsset(readFileSync(new URL(file, dist)), contentTypeOf(file)!, ASSET_CACHE_CONTROL));
    } catch {
      missing.push(file);
    }
  }
  const page = staticAsset(boardPage(defaultSymbols), "text/html; charset=utf-8", PAGE_CACHE_CONTROL);
  return { page, assets, missing };
}

/** `GET /`: the board page. */
export function boardPageRoute(board: BoardAssets): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    if (board.missing.length > 0) throw new BoardNotBuiltError(board.missing);
    sendAsset(res, req, board.page);
  };
}

/** `GET /assets/*`: only the paths in the allowlist; anything else (`..` included) is a 404. */
export function boardAssetRoute(board: BoardAssets): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    const url = req.getUrl();
    const asset = board.assets.get(url);
    if (asset === undefined) throw new NotFoundError(url);
    sendAsset(res, req, asset);
  };
}

/** Answer with `asset`, or 304 when the client's copy is current. Reads `req` before returning, as uWS requires. */
function sendAsset(res: HttpResponse, req: HttpRequest, asset: StaticAsset): void {
  const notModified = etagMatches(req.getHeader("if-none-match"), asset.etag);
  const head = req.getMethod() === "head";
  res.cork(() => {
    res.writeStatus(notModified ? "304 Not Modified" : "200 OK");
    if (!notModified) res.writeHeader("Content-Type", asset.contentType);
    res.writeHeader("ETag", asset.etag);
    res.writeHeader("Cache-Control", asset.cacheControl);
    for (const name in BOARD_HEADERS) res.writeHeader(name, BOARD_HEADERS[name]!);
    if (notModified) {
      res.endWithoutBody();
    } else if (head) {
      // uWS 20.30 aborts the process on endWithoutBody(length), and end(body) sends the body even
      // to HEAD: state the length ourselves and end without one.
      res.writeHeader("Content-Length", String(asset.body.length));
      res.endWithoutBody();
    } else {
      res.end(asset.body);
    }
  });
}

/**
 * The live quote board (`GET /`): a grid of symbols kept current by @quotecast/client, whose one
 * connection is shared by every board tab of the browser. DOM writes are batched into one
 * requestAnimationFrame per display frame, whatever the quote rate: quotes that arrive between two
 * frames only overwrite each other in `pending`.
 */
import { createClient, type Quote, type QuoteSnapshot, type QuoteSubscription } from "@quotecast/client";
import { formatChange, formatPercent, formatPrice, median, parseSymbolInput, referencePrice, tickDirection, tickPrice } from "./format.js";

/** How long a row shows its tick colour. */
const FLASH_MS = 300;
const STATS_EVERY_MS = 1000;

interface Row {
  readonly sym: string;
  readonly tr: HTMLTableRowElement;
  readonly cells: { bid: HTMLElement; ask: HTMLElement; last: HTMLElement; chg: HTMLElement; pct: HTMLElement };
  /** What each cell shows now, so that unchanged text is not written again. */
  readonly shown: { bid: string; ask: string; last: string; chg: string; pct: string };
  ref: number | undefined;
  price: number | undefined;
  flashUntil: number;
  /** On screen (or near it). Rows off screen are not touched: their latest quote waits in `deferred`. */
  visible: boolean;
  deferred: Quote | undefined;
}

const rowsEl = element<HTMLTableSectionElement>("rows");
const statusEl = element("status");
const statusText = element("status-text");
const latencyEl = element("latency");
const rateEl = element("rate");
const form = element<HTMLFormElement>("add");
const input = element<HTMLInputElement>("add-symbols");
const formError = element("form-error");

const rows = new Map<string, Row>();
const pending = new Map<string, Quote>();
const flashing = new Set<Row>();
let frameRequested = false;
let latencies: number[] = [];
let updates = 0;
/** Set once the rows exist; rows added before that have no quotes to show yet. */
let sub: QuoteSubscription | undefined;
let shownStatus = "";
const client = createClient(location.origin, {
  onError(err) {
    // Reconnects are expected (restarts, drains): shown on the status light, not thrown at the console.
    statusEl.title = err.message;
  },
});
// For the console and the browser tests: `quotecastBoard.client.role` says whether this tab holds
// the connection the board tabs share.
(globalThis as { quotecastBoard?: unknown }).quotecastBoard = { client };

// With 200 symbols most rows are off screen: writing their cells would cost style, layout and paint
// for nothing. Their latest quote is kept and shown when they scroll into view.
const visibility = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      const row = rows.get((entry.target as HTMLElement).dataset.sym ?? "");
      if (!row) continue;
      row.visible = entry.isIntersecting;
      if (row.visible && row.deferred) {
        if (!pending.has(row.sym)) pending.set(row.sym, row.deferred);
        row.deferred = undefined;
        schedule();
      }
    }
  },
  { rootMargin: "200px 0px" },
);

const initial = initialSymbols();
for (const sym of initial) addRow(sym);

resubscribe(initial);

setInterval(showStats, STATS_EVERY_MS);

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const { symbols, invalid } = parseSymbolInput(input.value);
  formError.textContent = invalid.length > 0 ? `not a symbol: ${invalid.join(", ")}` : "";
  let added = false;
  for (const sym of symbols) {
    if (rows.has(sym)) continue;
    addRow(sym);
    added = true;
  }
  if (invalid.length === 0) input.value = "";
  if (added) symbolsChanged();
});

rowsEl.addEventListener("click", (e) => {
  const button = (e.target as Element).closest("button[data-remove]");
  if (!button) return;
  const row = rows.get(button.getAttribute("data-remove") ?? "");
  if (!row) return;
  visibility.unobserve(row.tr);
  row.tr.remove();
  rows.delete(row.sym);
  flashing.delete(row);
  pending.delete(row.sym);
  symbolsChanged();
});

function initialSymbols(): string[] {
  const fromUrl = new URLSearchParams(location.search).get("symbols");
  const defaults = document.body.dataset.defaultSymbols ?? "";
  const { symbols, invalid } = parseSymbolInput(fromUrl ?? defaults);
  if (invalid.length > 0) formError.textContent = `ignored, not a symbol: ${invalid.join(", ")}`;
  return symbols.length > 0 || fromUrl === null ? symbols : parseSymbolInput(defaults).symbols;
}

/**
 * Subscribe to the new list, then drop the old subscription: symbols in both are held by reference
 * throughout and keep their values; the client re-opens its stream once, for the difference.
 */
function resubscribe(symbols: readonly string[]): void {
  const old = sub;
  sub = client.subscribe(symbols, (_snapshot, changed, kind) => {
    for (const q of changed) pending.set(q.sym, q);
    if (kind === "update") {
      updates += changed.length;
      const now = Date.now();
      // Bounded: at 5,000 quotes/s this is the last second's worth at most.
      for (const q of changed) if (latencies.length < 10_000) latencies.push(now - q.ts);
    }
    schedule();
  });
  old?.close();
  sub.subscribe(showStatus);
  // Quotes the client already held (a symbol added back, another tab's symbol) show at once.
  const held = sub.getSnapshot().quotes;
  for (const sym of symbols) {
    const q = held[sym];
    if (q && rows.has(sym)) pending.set(sym, q);
  }
  schedule();
}

function symbolsChanged(): void {
  const symbols = [...rows.keys()];
  resubscribe(symbols);
  const url = new URL(location.href);
  url.searchParams.set("symbols", symbols.join(","));
  // A readable URL: the commas of a symbol list need no escaping in a query.
  history.replaceState(null, "", url.pathname + "?" + url.searchParams.toString().replace(/%2C/g, ","));
}

function addRow(sym: string): void {
  const tr = document.createElement("tr");
  tr.dataset.sym = sym;
  const cell = (cls: string, text = "–"): HTMLTableCellElement => {
    const td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  };
  cell("sym", sym);
  const row: Row = {
    sym,
    tr,
    cells: { bid: cell("bid"), ask: cell("ask"), last: cell("last"), chg: cell("chg"), pct: cell("pct") },
    shown: { bid: "–", ask: "–", last: "–", chg: "–", pct: "–" },
    ref: undefined,
    price: undefined,
    flashUntil: 0,
    visible: true,
    deferred: undefined,
  };
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.dataset.remove = sym;
  remove.title = `remove ${sym}`;
  remove.textContent = "×";
  cell("actions", "").appendChild(remove);
  rows.set(sym, row);
  rowsEl.appendChild(tr);
  visibility.observe(tr);
}

function schedule(): void {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(render);
}

function render(now: number): void {
  frameRequested = false;
  for (const [sym, q] of pending) {
    const row = rows.get(sym);
    if (!row) continue;
    if (row.visible) update(row, q, now);
    else row.deferred = q;
  }
  pending.clear();
  for (const row of flashing) {
    if (row.flashUntil > now) continue;
    row.tr.classList.remove("flash", "up", "down");
    flashing.delete(row);
  }
  if (flashing.size > 0) schedule();
}

function update(row: Row, q: Quote, now: number): void {
  const last = typeof q.last === "number" ? q.last : undefined;
  row.ref = referencePrice(row.ref, q);
  set(row, "bid", formatPrice(q.bid));
  set(row, "ask", formatPrice(q.ask));
  set(row, "last", formatPrice(q.last));
  if (set(row, "chg", formatChange(last, row.ref))) signOf(row.cells.chg, row.shown.chg);
  if (set(row, "pct", formatPercent(last, row.ref))) signOf(row.cells.pct, row.shown.pct);
  const price = tickPrice(q);
  const dir = tickDirection(row.price, price);
  row.price = price;
  const cls = row.tr.classList;
  cls.add("flash");
  cls.toggle("up", dir > 0);
  cls.toggle("down", dir < 0);
  row.flashUntil = now + FLASH_MS;
  flashing.add(row);
}

/** Write a cell's text if it changed; says whether it did. */
function set(row: Row, field: keyof Row["shown"], text: string): boolean {
  if (row.shown[field] === text) return false;
  row.shown[field] = text;
  row.cells[field].textContent = text;
  return true;
}

/** Colour a change cell by the sign it shows (a change that rounds to zero has none). */
function signOf(cell: HTMLElement, text: string): void {
  cell.dataset.sign = text.startsWith("+") ? "pos" : text.startsWith("-") ? "neg" : "";
}

function showStatus(snapshot: QuoteSnapshot): void {
  const { status, reason } = snapshot;
  const key = status + "\n" + (reason ?? "");
  if (key === shownStatus) return;
  shownStatus = key;
  statusEl.className = "status " + status;
  let text: string = status;
  if (status === "closed" && reason) text = `closed: ${reason}`;
  else if (status === "live" && rows.size === 0) text = "no symbols";
  statusText.textContent = text;
  statusEl.title = reason ?? "";
}

function showStats(): void {
  const m = median(latencies);
  latencyEl.textContent = m === undefined ? "–" : `${Math.round(m)} ms`;
  rateEl.textContent = `${updates}/s`;
  latencies = [];
  updates = 0;
}

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`board: the page has no #${id}`);
  return el as T;
}

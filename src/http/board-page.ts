/**
 * The demo quote board served at `/`: one static page, built once per worker.
 * `/?symbols=A,B` picks the symbols; otherwise `defaultSymbols`.
 */
export function boardPage(defaultSymbols: readonly string[]): string {
  const defaults = JSON.stringify(defaultSymbols.join(","));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quotecast board</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;background:#0e1117;color:#e6e6e6}
table{border-collapse:collapse;min-width:28rem}th,td{padding:.3rem .8rem;text-align:right}
th:first-child,td:first-child{text-align:left}tr:nth-child(even){background:#161b22}
#status{margin:.5rem 0;color:#8b949e}.up{color:#3fb950}.down{color:#f85149}
</style></head><body>
<h1>quotecast</h1><div id="status">connecting…</div>
<table><thead><tr><th>Symbol</th><th>Bid</th><th>Ask</th><th>Last</th></tr></thead><tbody id="rows"></tbody></table>
<script>
const params = new URLSearchParams(location.search);
const symbols = (params.get("symbols") || ${defaults}).split(",").map(s => s.trim().toUpperCase()).filter(Boolean);
const rows = document.getElementById("rows"), status = document.getElementById("status");
const cells = new Map();
for (const sym of symbols) {
  const tr = document.createElement("tr"); tr.id = "row-" + sym;
  tr.innerHTML = "<td></td><td class=bid>–</td><td class=ask>–</td><td class=last>–</td>";
  tr.firstChild.textContent = sym; rows.appendChild(tr);
  cells.set(sym, { bid: tr.querySelector(".bid"), ask: tr.querySelector(".ask"), last: tr.querySelector(".last"), prev: null });
}
const fmt = v => typeof v === "number" ? v.toFixed(2) : "–";
function apply(quotes) {
  for (const q of quotes) {
    const c = cells.get(q.sym); if (!c) continue;
    c.bid.textContent = fmt(q.bid); c.ask.textContent = fmt(q.ask); c.last.textContent = fmt(q.last);
    if (c.prev !== null && typeof q.last === "number") c.last.className = "last " + (q.last >= c.prev ? "up" : "down");
    c.prev = q.last;
  }
}
const es = new EventSource("/quotes?symbols=" + encodeURIComponent(symbols.join(",")));
es.addEventListener("snapshot", e => { status.textContent = "live"; apply(JSON.parse(e.data)); });
es.addEventListener("quotes", e => apply(JSON.parse(e.data)));
es.onerror = () => { status.textContent = "reconnecting…"; };
</script></body></html>
`;
}

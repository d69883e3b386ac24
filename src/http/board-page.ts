/**
 * The quote board's HTML: a static shell, the same for every URL (`/?symbols=A,B` is read by the
 * board script from `location`), built once per worker. No inline script or style, so that the
 * Content-Security-Policy can forbid them; the default symbol list travels in a data attribute.
 */
export function boardPage(defaultSymbols: readonly string[]): string {
  const defaults = escapeAttribute(defaultSymbols.join(","));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>quotecast board</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/board/board.css">
<script type="module" src="/assets/board/board.js"></script>
</head>
<body data-default-symbols="${defaults}">
<header>
  <h1>quotecast</h1>
  <div class="stats">
    <span id="status" class="status connecting" role="status"><span class="light"></span><span id="status-text">connecting</span></span>
    <span>latency <b id="latency">–</b></span>
    <span>updates <b id="rate">–</b></span>
  </div>
</header>
<form id="add" autocomplete="off">
  <input id="add-symbols" name="symbols" placeholder="Add symbols: IBM, BRK.B" aria-label="symbols to add" spellcheck="false">
  <button type="submit">Add</button>
  <span id="form-error" class="form-error" role="alert"></span>
</form>
<table id="board">
  <colgroup><col class="sym"><col class="num"><col class="num"><col class="num"><col class="num"><col class="num"><col class="actions"></colgroup>
  <thead><tr><th>Symbol</th><th>Bid</th><th>Ask</th><th>Last</th><th>Change</th><th>Change %</th><th><span class="sr-only">Remove</span></th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<p class="note">Change is measured from the first last price this page saw in this session (or the quote's <code>prevClose</code> when the feed sends one). Latency is now − the quote's publish time, the median over the last second.</p>
<noscript>The board needs JavaScript.</noscript>
</body>
</html>
`;
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

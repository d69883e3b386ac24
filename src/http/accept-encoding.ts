/**
 * Whether an `Accept-Encoding` header (RFC 9110 §12.5.3) lets us answer with gzip. Pure.
 *
 * - `gzip` (or its alias `x-gzip`) with a q-value above 0 allows it; `gzip;q=0` refuses it,
 *   whatever `*` says.
 * - Otherwise `*` with a q-value above 0 allows it.
 * - An entry whose q-value is malformed counts as a refusal: an uncompressed answer is always
 *   acceptable, a compressed one the client may not read is not.
 */
export function acceptsGzip(header: string): boolean {
  let gzip: number | undefined;
  let star: number | undefined;
  for (const entry of header.split(",")) {
    const parts = entry.split(";");
    const coding = parts[0]!.trim().toLowerCase();
    if (coding !== "gzip" && coding !== "x-gzip" && coding !== "*") continue;
    let q = 1;
    for (let i = 1; i < parts.length; i++) {
      const param = parts[i]!.trim();
      const eq = param.indexOf("=");
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== "q") continue;
      q = qValue(param.slice(eq + 1).trim());
    }
    if (coding === "*") star = Math.max(star ?? 0, q);
    else gzip = Math.max(gzip ?? 0, q);
  }
  if (gzip !== undefined) return gzip > 0;
  return star !== undefined && star > 0;
}

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); anything else is 0. */
function qValue(s: string): number {
  return /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(s) ? Number(s) : 0;
}

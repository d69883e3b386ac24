import t from "tap";
import { acceptsGzip } from "../src/http/accept-encoding.js";

t.test("accept-encoding - gzip is allowed by name, alias or wildcard with a q-value above 0", async (t) => {
  for (const h of ["gzip", "GZIP", "gzip, deflate, br", "deflate, gzip;q=0.5", "x-gzip", "*", "br, *;q=0.1", "gzip;q=1", "gzip ; q=0.001", "gzip;level=1", "gzip;q=1.000"]) {
    t.equal(acceptsGzip(h), true, h);
  }
});

t.test("accept-encoding - gzip;q=0 is a refusal, whatever the wildcard says", async (t) => {
  for (const h of ["", "identity", "br, deflate", "gzip;q=0", "gzip;q=0.000", "gzip; Q=0", "*;q=0", "gzip;q=0, *", "*, gzip;q=0", "deflate;q=1, *;q=0"]) {
    t.equal(acceptsGzip(h), false, JSON.stringify(h));
  }
});

t.test("accept-encoding - a malformed q-value counts as a refusal", async (t) => {
  for (const h of ["gzip;q=2", "gzip;q=-1", "gzip;q=0.5x", "gzip;q=", "gzip;q=1.5", "gzip;q=0.0001"]) {
    t.equal(acceptsGzip(h), false, h);
  }
});

// The nchan baseline: nginx with Debian's libnginx-mod-nchan, one channel per symbol, and one
// multiplexed EventSource subscription per connection (`/quotes?symbols=A,B` → channels A and
// B), so the same load generator drives it. The bench publisher POSTs each quote to
// `/pub/<SYM>`. Each channel keeps its newest message, sent first on subscribe (the
// "snapshot"). One worker process, like the single-process ceiling and quotecast worker.

import { execFileSync } from "node:child_process";
import { accessSync, mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so";

export const NCHAN_INSTALL =
  "nchan baseline skipped: nginx with the nchan module is not installed. Install it with\n" +
  "  Debian/Ubuntu: sudo apt-get install -y nginx-light libnginx-mod-nchan\n" +
  "  macOS:         brew install nginx-full --with-nchan-module (denji/nginx tap), or build nginx with nchan\n" +
  "then run the bench again.";

/** The nginx binary when nginx and the nchan module are both there, else undefined. */
export function findNginxWithNchan(): string | undefined {
  for (const bin of ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/opt/homebrew/bin/nginx", "/usr/local/bin/nginx"]) {
    try {
      accessSync(bin);
      accessSync(NCHAN_MODULE);
      execFileSync(bin, ["-v"], { stdio: "ignore" });
      return bin;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Write an nginx.conf for one run into a fresh directory; returns that directory. */
export function writeNchanConfig(port: number, maxConnections: number): string {
  const dir = mkdtempSync(join(tmpdir(), "qc-bench-nchan-"));
  mkdirSync(join(dir, "tmp"));
  const asRoot = process.getuid?.() === 0 ? "user root;\n" : "";
  writeFileSync(
    join(dir, "nginx.conf"),
    `load_module ${NCHAN_MODULE};
${asRoot}daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile ${maxConnections + 1000};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${maxConnections + 1000}; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  nchan_max_reserved_memory 512M;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /readyz { return 200 "ok"; }
    location ~ ^/pub/(.+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      # The newest message per channel is all a ticker needs, and what a new subscriber gets first.
      nchan_message_buffer_length 1;
      nchan_message_timeout 10m;
    }
    location = /quotes {
      nchan_subscriber eventsource;
      nchan_channel_id $arg_symbols;
      nchan_channel_id_split_delimiter ",";
      nchan_subscriber_first_message newest;
    }
  }
}
`,
  );
  return dir;
}

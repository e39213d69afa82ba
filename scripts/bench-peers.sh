#!/usr/bin/env bash
# The whole pipeline, side by side with its peers: N static targets of S series (nginx
# serving files on 127.0.X.Y:9100), scraped every IV seconds for DUR seconds by each
# SCRAPER, remote-written to one VictoriaMetrics receiver. Prints per scraper: CPU
# seconds over DUR, peak RSS (VmHWM), samples received, CPU µs per sample.
#
# Usage: scripts/bench-peers.sh N S IV DUR SCRAPER...
#   SCRAPER: vmagent | prom-agent | shoal (SHOAL_BIN, default: target/release/shoal;
#   SHOAL_ARGS adds flags). RUNS=k repeats the whole set k times (default 1).
# Needs: apt-get install victoria-metrics prometheus nginx-light bc curl python3
# Build shoal first: cargo build --release. Timings are noisy on shared machines:
# compare ratios within one run.
set -euo pipefail
N=${1:?N targets}; S=${2:?series per target}; IV=${3:?interval s}; DUR=${4:?duration s}
shift 4
SCRAPERS=${*:-vmagent shoal}
RUNS=${RUNS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$HERE/../target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$HERE/../$TARGET_DIR ;; esac
SHOAL_BIN=${SHOAL_BIN:-$TARGET_DIR/release/shoal}
if [[ " $* " == *" shoal "* && ! -x $SHOAL_BIN ]]; then
    echo "no shoal binary at $SHOAL_BIN: run cargo build --release first" >&2
    exit 2
fi
W=$(mktemp -d -t shoal-bench.XXXXXX)
addr() { echo "127.0.$(( $1 / 250 + 1 )).$(( $1 % 250 + 1 ))"; }

python3 "$HERE/gen-targets.py" "$W/files" "$N" "$S" >/dev/null
for ((i = 0; i < N; i++)); do mv "$W/files/t$i.prom" "$W/files/$(addr "$i").prom"; done
cat >"$W/nginx.conf" <<NG
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 8192; }
http { access_log off; server { listen 9100; root $W/files;
  location = /metrics { default_type text/plain; rewrite ^ /\$server_addr.prom break; } } }
NG
nginx -c "$W/nginx.conf" -e "$W/nginx.err" -g "user root;"
victoria-metrics -storageDataPath "$W/vm" -httpListenAddr 127.0.0.1:8428 \
    -retentionPeriod 1d >"$W/vm.log" 2>&1 &
VM=$!
SP=
cleanup() {
    kill $VM "$(cat "$W/nginx.pid" 2>/dev/null)" ${SP:+"$SP"} 2>/dev/null || true
    wait $VM 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
for _ in $(seq 50); do curl -sf 127.0.0.1:8428/health >/dev/null && break; sleep 0.1; done

TARGETS=$(for ((i = 0; i < N; i++)); do printf '"%s:9100",' "$(addr "$i")"; done)
cat >"$W/scrape.yml" <<Y
global: { scrape_interval: ${IV}s, scrape_timeout: ${IV}s }
scrape_configs:
  - job_name: bench
    static_configs: [ { targets: [ ${TARGETS%,} ] } ]
Y
{ cat "$W/scrape.yml"; echo 'remote_write: [ { url: "http://127.0.0.1:8428/api/v1/write" } ]'; } >"$W/agent.yml"

# awk reads to the end: exiting early would make curl fail on SIGPIPE (and pipefail stop us).
rows() { curl -s 127.0.0.1:8428/metrics | awk '/^vm_rows_inserted_total\{type="promremotewrite"\}/ {v = $2} END {print v + 0}'; }
# Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
cpu() { sed 's/.*) //' "/proc/$1/stat" | awk '{print ($12 + $13) / 100}'; }

printf '%-11s %8s %9s %12s %10s\n' scraper cpu_s rss_mib samples cpu_us/smp
for ((run = 1; run <= RUNS; run++)); do
  for sc in $SCRAPERS; do
    d="$W/$sc.$run"; mkdir -p "$d"
    case $sc in
      vmagent) vmagent -promscrape.config "$W/scrape.yml" \
                 -remoteWrite.url http://127.0.0.1:8428/api/v1/write \
                 -remoteWrite.tmpDataPath "$d" -httpListenAddr 127.0.0.1:8429 >"$d/log" 2>&1 &
               SP=$! ;;
      prom-agent) prometheus --enable-feature=agent --config.file "$W/agent.yml" \
                 --storage.agent.path "$d" --web.listen-address 127.0.0.1:9090 >"$d/log" 2>&1 &
               SP=$! ;;
      shoal) # shellcheck disable=SC2086
             "$SHOAL_BIN" --config.file "$W/agent.yml" --storage.path "$d" \
                 --web.listen-address 127.0.0.1:9464 ${SHOAL_ARGS:-} >"$d/log" 2>&1 &
             SP=$! ;;
      *) echo "unknown scraper $sc" >&2; exit 2 ;;
    esac
    # One interval to start and scrape once, then measure DUR seconds.
    sleep "$IV"
    if ! kill -0 $SP 2>/dev/null; then echo "$sc exited:"; tail -5 "$d/log"; exit 1; fi
    r0=$(rows); c0=$(cpu $SP)
    sleep "$DUR"; r1=$(rows); c1=$(cpu $SP)
    hwm=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$SP/status")
    kill $SP; wait $SP 2>/dev/null || true; SP=
    n=$(( ${r1%.*} - ${r0%.*} ))
    awk -v s="$sc" -v c="$(echo "$c1 - $c0" | bc)" -v h="$hwm" -v n="$n" \
        'BEGIN { printf "%-11s %8.2f %9.1f %12d %10.3f\n", s, c, h, n, (n > 0 ? c * 1e6 / n : -1) }'
    sleep 2
  done
done

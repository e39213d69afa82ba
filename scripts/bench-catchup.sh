#!/usr/bin/env bash
# Catch-up after an outage: N targets x S series every IV s, VictoriaMetrics killed for OUT s.
set -uo pipefail
# Usage (from the repo, after cargo build --release): scripts/bench-catchup.sh 100 1000 5 60
# Needs victoria-metrics, nginx-light, curl and bc (Debian), like ../shared/bench/peers.sh.
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHOAL_BIN=${SHOAL_BIN:-$HERE/target/release/shoal}
N=${1:-100}; S=${2:-1000}; IV=${3:-5}; OUT=${4:-60}
W=$(mktemp -d /tmp/catchup.XXXX)
addr() { echo "127.0.$(( $1 / 250 + 1 )).$(( $1 % 250 + 1 ))"; }
python3 "$HERE/../shared/bench/gen_targets.py" "$W/files" "$N" "$S" >/dev/null
for ((i=0;i<N;i++)); do mv "$W/files/t$i.prom" "$W/files/$(addr $i).prom"; done
cat > "$W/nginx.conf" <<NG
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 4096; }
http { access_log off; server { listen 9100; root $W/files;
  location = /metrics { default_type text/plain; rewrite ^ /\$server_addr.prom break; } } }
NG
nginx -c "$W/nginx.conf" -e "$W/nginx.err" -g "user root;"
vm() { victoria-metrics -storageDataPath "$W/vm" -httpListenAddr 127.0.0.1:8428 -retentionPeriod 1d >>"$W/vm.log" 2>&1 & VM=$!; }
vm; sleep 2; NG=$(cat "$W/nginx.pid")
TARGETS=$(for ((i=0;i<N;i++)); do printf '"%s:9100",' "$(addr $i)"; done); TARGETS=${TARGETS%,}
cat > "$W/agent.yml" <<Y
global: { scrape_interval: ${IV}s, scrape_timeout: ${IV}s }
scrape_configs:
  - job_name: bench
    static_configs: [ { targets: [ $TARGETS ] } ]
remote_write: [ { url: "http://127.0.0.1:8428/api/v1/write" } ]
Y
"$SHOAL_BIN" --config.file "$W/agent.yml" --storage.path "$W/shoal" --web.listen-address 127.0.0.1:9464 >"$W/shoal.log" 2>&1 & SP=$!
cleanup() { kill $VM $NG $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
rows() { curl -s 127.0.0.1:8428/metrics | awk '/^vm_rows_inserted_total\{type="promremotewrite"\}/ {print $2}' | head -1; }
m() { curl -s 127.0.0.1:9464/metrics | awk -v n="$1" '$1 ~ "^"n {s+=$2} END {print s+0}'; }
sleep 15
kill $VM; wait $VM 2>/dev/null
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$SP/status"; }
echo "outage start $(date +%T) rss ${rss_mib:=$(rss)} MiB"
# RSS and reader lag every 10 s: the backlog is on disk, memory must stay flat.
for ((t=10; t<=OUT; t+=10)); do
  sleep 10
  echo "  outage +${t}s rss $(rss) MiB lag $(m shoal_wal_reader_lag_samples) samples, $(m "shoal_wal_segments$") segments"
done
sleep $(( OUT % 10 ))
echo "outage end $(date +%T) rss $(rss) MiB"
vm; sleep 1
until curl -s 127.0.0.1:8428/metrics >/dev/null; do sleep 0.2; done
prev=$(rows); prev=${prev:-0}
while [ "${prev%.*}" -eq 0 ]; do sleep 0.2; prev=$(rows); prev=${prev:-0}; done
r0=$prev; t0=$(date +%s.%N); slow=0
for i in $(seq 1 600); do
  sleep 1
  cur=$(rows); d=$(( ${cur%.*} - ${prev%.*} )); prev=$cur
  echo "  +$d"
  if [ "$d" -lt $(( N * S * 3 / IV / 2 )) ]; then slow=$((slow+1)); else slow=0; fi
  [ $slow -ge 2 ] && break
done
t1=$(date +%s.%N)
n=$(( ${prev%.*} - ${r0%.*} ))
echo "caught up: $n samples in $(echo "$t1 - $t0 - 2" | bc) s (the last 2 s at the normal rate excluded from the time, not from the count)"
awk -v n="$n" -v t="$(echo "$t1 - $t0 - 2" | bc)" 'BEGIN {printf "rate %.0f samples/s\n", n/t}'
curl -s 127.0.0.1:9464/metrics | grep -E '^shoal_remote_write_shards'
grep -c resharding "$W/shoal.log"; grep resharding "$W/shoal.log" | tail -3

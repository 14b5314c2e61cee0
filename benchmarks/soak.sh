#!/usr/bin/env bash
# Soak: train on the bundled game for a long time and sample the process's resident memory.
#   benchmarks/soak.sh [gbfarm binary] [minutes] [sample seconds] [extra train args...]
# Writes benchmarks/results/soak-<time>.csv (seconds,rss_kb,global_step) and prints RSS at the
# start (first sample after warm-up), middle and end, and the slope of a least-squares line
# through the samples after warm-up (the first 10% of the run), in KB per hour.
# Memory is flat when the slope times the run's length is small next to the RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
gbfarm=${1:-build/gbfarm}
minutes=${2:-20}
every=${3:-10}
shift $(( $# < 3 ? $# : 3 ))
extra=("$@")
[ ${#extra[@]} -gt 0 ] || extra=(--obs vars --envs 2)

out=benchmarks/results
mkdir -p "$out"
stamp=$(date +%Y%m%d-%H%M%S)
csv="$out/soak-$stamp.csv"
run_dir=$(mktemp -d /tmp/gbfarm-soak-XXXXXX)
log="$run_dir.log"
seconds=$(( minutes * 60 ))

# --steps large enough never to finish; the run is stopped with SIGTERM (a checkpoint, exit 0).
"$gbfarm" train "${extra[@]}" --steps 100000000000 --run-dir "$run_dir/run" \
  --checkpoint-every 20 --keep-every 0 --log-interval "$every" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
echo "seconds,rss_kb,global_step" >"$csv"
start=$(date +%s)
while :; do
  now=$(( $(date +%s) - start ))
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status 2>/dev/null) || break
  [ -n "$rss" ] || break
  step=$(grep -o 'step [0-9,]*' "$log" 2>/dev/null | tail -1 | tr -dc 0-9) || true
  echo "$now,$rss,${step:-0}" >>"$csv"
  [ "$now" -ge "$seconds" ] && break
  sleep "$every"
done
kill -TERM $pid 2>/dev/null || true
status=0
wait $pid || status=$?
trap - EXIT
echo "train exited $status after SIGTERM; log $log, run $run_dir/run"

awk -F, -v warm="$(( seconds / 10 ))" 'BEGIN { n = 0 } NR > 1 {
    t[n] = $1; r[n] = $2; n++
  }
  END {
    if (n < 3) { print "too few samples"; exit 1 }
    k = 0; for (i = 0; i < n; i++) if (t[i] >= warm) { T[k] = t[i]; R[k] = r[i]; k++ }
    if (k < 2) { for (i = 0; i < n; i++) { T[i] = t[i]; R[i] = r[i] } k = n }
    st = 0; sr = 0; for (i = 0; i < k; i++) { st += T[i]; sr += R[i] }
    mt = st / k; mr = sr / k; num = 0; den = 0
    for (i = 0; i < k; i++) { num += (T[i] - mt) * (R[i] - mr); den += (T[i] - mt) ^ 2 }
    slope = den > 0 ? num / den * 3600 : 0
    max = R[0]; min = R[0]; for (i = 0; i < k; i++) { if (R[i] > max) max = R[i]; if (R[i] < min) min = R[i] }
    printf "samples %d over %d s (warm-up %d s: first sample %d KB)\n", n, t[n-1], warm, r[0]
    printf "RSS after warm-up: start %d KB (t=%d s), middle %d KB (t=%d s), end %d KB (t=%d s)\n", \
      R[0], T[0], R[int(k/2)], T[int(k/2)], R[k-1], T[k-1]
    printf "min %d KB, max %d KB, slope %+.1f KB/hour\n", min, max, slope
  }' "$csv"
echo "csv: $csv"

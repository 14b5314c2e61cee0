#!/usr/bin/env bash
# Training steps/s against the env-only farm (gbfarm bench) with the same game, envs and
# frame skip, in one run of this script:
#   benchmarks/train-throughput.sh [gbfarm binary] [env counts] [train steps]
# For each env count: bench's steps/s (random policy, no learner), then gbfarm train's
# steps/s with the RAM observation (MLP) and with screens (small and Nature CNN), their ratio
# to bench, and train's own account of where the time went. The game is the bundled one
# unless GAME names others, e.g.
#   GAME="--game states/pokemon-red --rom red.gb --state red.state" LEARNERS="--cnn small" \
#     benchmarks/train-throughput.sh build/gbfarm "1 2" 4096
set -euo pipefail
cd "$(dirname "$0")/.."
gbfarm=${1:-build/gbfarm}
envs_list=${2:-1 2}
steps=${3:-20480}
read -r -a game <<<"${GAME:-}"
IFS=';' read -r -a learners <<<"${LEARNERS:---obs vars;--cnn small;--cnn nature}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-5s %-16s %10s %10s %7s  %s\n' envs learner steps/s bench ratio "time split"
for envs in $envs_list; do
  bench=$("$gbfarm" bench "${game[@]}" --envs "$envs" --seconds 15 | awk 'NR == 3 { print $3 }')
  for learner in "${learners[@]}"; do
    out=$("$gbfarm" train "${game[@]}" --envs "$envs" --steps "$steps" $learner --run-dir "$tmp/run-$envs-${learner// /}" --log-interval 1000)
    sps=$(printf '%s\n' "$out" | grep -o '[0-9.]* steps/s' | tail -n 1 | cut -d' ' -f1)
    split=$(printf '%s\n' "$out" | grep '^time:' | cut -c7-)
    ratio=$(awk -v a="$sps" -v b="$bench" 'BEGIN { printf "%.2f", a / b }')
    printf '%-5s %-16s %10s %10s %7s  %s\n' "$envs" "$learner" "$sps" "$bench" "$ratio" "$split"
  done
done

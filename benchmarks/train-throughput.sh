#!/usr/bin/env bash
# Training steps/s against the env-only farm (gbfarm bench) with the same game, envs and
# frame skip, in one run of this script:
#   benchmarks/train-throughput.sh [gbfarm binary] [env counts] [train steps]
# For each env count: bench's steps/s (random policy, no learner), then gbfarm train's
# steps/s with the RAM observation (MLP) and with screens (small and Nature CNN), their ratio
# to bench, the ratio to the envs alone on the run's own path (train's "speed:" line: the env
# threads' CPU time in env steps, which a random policy's path does not have to match), and
# train's own account of where the time went. The game is the bundled one
# unless GAME names others, e.g.
#   GAME="--game states/pokemon-red --rom red.gb --state red.state" LEARNERS="--cnn small" \
#     benchmarks/train-throughput.sh build/gbfarm "1 2" 4096
# REPEAT=N (default 1) runs bench and the learners N times in turn, each train row against
# the bench just before it, then prints each learner's median ratio: on a machine whose speed
# drifts (a shared virtual machine can move by a quarter within the hour) only interleaved
# repeats compare the two.
set -euo pipefail
cd "$(dirname "$0")/.."
gbfarm=${1:-build/gbfarm}
envs_list=${2:-1 2}
steps=${3:-20480}
repeat=${REPEAT:-1}
read -r -a game <<<"${GAME:-}"
IFS=';' read -r -a learners <<<"${LEARNERS:---obs vars;--cnn small;--cnn nature}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-5s %-16s %10s %10s %7s %6s  %s\n' envs learner steps/s bench ratio path "time split"
for envs in $envs_list; do
  for ((r = 1; r <= repeat; r++)); do
    bench=$("$gbfarm" bench "${game[@]}" --envs "$envs" --seconds 15 | awk 'NR == 3 { print $3 }')
    for i in "${!learners[@]}"; do
      learner=${learners[$i]}
      rm -rf "$tmp/run"
      out=$("$gbfarm" train "${game[@]}" --envs "$envs" --steps "$steps" $learner --run-dir "$tmp/run" --log-interval 1000)
      sps=$(printf '%s\n' "$out" | grep '^speed:' | awk '{ print $2 }')
      path=$(printf '%s\n' "$out" | grep '^speed:' | awk '{ print $4 }')
      split=$(printf '%s\n' "$out" | grep '^time:' | cut -c7-)
      ratio=$(awk -v a="$sps" -v b="$bench" 'BEGIN { printf "%.2f", a / b }')
      printf '%-5s %-16s %10s %10s %7s %6s  %s\n' "$envs" "$learner" "$sps" "$bench" "$ratio" "$path" "$split"
      echo "$ratio" >>"$tmp/ratios-$i"
    done
  done
  if ((repeat > 1)); then
    for i in "${!learners[@]}"; do
      printf '%-5s %-16s median ratio of %d: %s\n' "$envs" "${learners[$i]}" "$repeat" \
        "$(sort -n "$tmp/ratios-$i" | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
    done
  fi
  rm -f "$tmp"/ratios-*
done

#!/usr/bin/env bash
# One machine, two layouts of the same farm, in one run of this script:
#   benchmarks/mpi.sh [gbfarm binary built with -DGBFARM_MPI=ON] [train steps]
# 1 rank x 2 envs (2 update threads) against 2 ranks x 1 env (1 update thread each), for the
# bundled game with its defaults and, when GBFARM_ROM_POKERED names the ROM, Pokemon Red
# with the Nature CNN (the issue's settings). Prints train steps/s and the gradient exchange
# the log reports (allreduces per update, bytes, time).
set -euo pipefail
cd "$(dirname "$0")/.."
gbfarm=${1:-build-mpi/gbfarm}
steps=${2:-32768}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 # CI and containers run as root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

games=("catch-gb defaults|")
if [ -n "${GBFARM_ROM_POKERED:-}" ]; then
  games+=("pokemon-red, Nature CNN|--game states/pokemon-red --rom $GBFARM_ROM_POKERED --cnn nature --hidden 512 --rollout-steps 2048 --epochs 1 --minibatches 8 --no-anneal")
fi
printf '| game | layout | train steps/s | gradient exchange |\n|---|---|---|---|\n'
for entry in "${games[@]}"; do
  name=${entry%%|*}
  read -r -a args <<<"${entry#*|}"
  k=0
  for layout in "1 rank x 2 envs" "2 ranks x 1 env"; do
    k=$((k + 1))
    if [ "$k" -eq 1 ]; then
      out=$("$gbfarm" train "${args[@]}" --envs 2 --update-threads 2 --steps "$steps" \
        --run-dir "$tmp/$k-${name%% *}" --log-interval 1000 | cat)
    else
      out=$(mpirun -np 2 --oversubscribe "$gbfarm" train "${args[@]}" --envs 1 --update-threads 1 \
        --steps "$steps" --run-dir "$tmp/$k-${name%% *}" --log-interval 1000 | cat)
    fi
    # (mpirun gives its ranks a terminal: their progress line says "sps")
    sps=$(printf '%s\n' "$out" | grep -oE '[0-9.]+ (steps/s|sps)' | tail -n 1 | cut -d' ' -f1)
    comm=$(printf '%s\n' "$out" | grep '^gradient exchange:' | cut -c20- || true)
    printf '| %s | %s | %s | %s |\n' "$name" "$layout" "$sps" "${comm:-none (one process)}"
  done
done

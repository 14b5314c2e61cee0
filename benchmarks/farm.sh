#!/usr/bin/env bash
# The farm's scaling and overhead on the bundled games, every core that runs them:
#   benchmarks/farm.sh [gbfarm binary] [seconds per env count] [env counts]
# Writes one CSV per game/core pair under benchmarks/results/ and prints the tables.
# The farm/raw column is the farm's frames/s over the bare core's, measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
gbfarm=${1:-build/gbfarm}
seconds=${2:-10}
envs=${3:-1,2}
out=benchmarks/results
mkdir -p "$out"
run() {
  local name=$1; shift
  echo "== $name"
  "$gbfarm" bench --envs "$envs" --seconds "$seconds" --raw --csv "$out/farm-$name.csv" "$@"
}
run catch-gb-gambatte --game states/catch-gb --core gambatte
run catch-gb-mgba     --game states/catch-gb --core mgba --state states/catch-gb/start.txt
run catch-gba-mgba    --game states/catch-gba --core mgba

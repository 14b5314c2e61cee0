#!/usr/bin/env bash
# The start-state archive against the same run without it, on a game folder that has one:
#
#   benchmarks/archive.sh GAME ROM CORE STEPS SEED OUT [VAR ...]
#
# Trains twice with the same seed and steps:
#   archive: the folder as it is (resets start from archived states with 1 - p_start);
#   control: the same folder with p_start 1, so every reset starts from the folder's own state
#            (the archive still records the cells the envs reach, so both report them).
# Then evaluates each final checkpoint and a random policy from the folder's own start state
# (gbfarm eval never uses the archive), reporting the VARs at each episode's end.
# Prints a table; the runs stay in OUT.
set -euo pipefail
if [ $# -lt 6 ]; then
    sed -n 2,13p "$0" >&2
    exit 2
fi
game=$1 rom=$2 core=$3 steps=$4 seed=$5 out=$6
shift 6
vars=()
for v in "$@"; do vars+=(--var "$v"); done
bin=${GBFARM:-./build/gbfarm}
episodes=${EPISODES:-10}
mkdir -p "$out"
rm -rf "$out/control-game"
cp -r "$game" "$out/control-game"
sed -i 's/"p_start": *[0-9.]*/"p_start": 1.0/' "$out/control-game/game.json"
grep -q '"p_start": 1.0' "$out/control-game/game.json" || {
    echo "archive.sh: $game/game.json has no archive.p_start to set" >&2
    exit 1
}

for arm in archive control; do
    g=$game
    [ "$arm" = control ] && g=$out/control-game
    rm -rf "${out:?}/$arm"
    start=$(date +%s)
    "$bin" train --game "$g" --rom "$rom" --core "$core" --steps "$steps" --seed "$seed" \
        --run-dir "$out/$arm" --log-interval 60 >"$out/$arm.log" 2>&1
    echo "$arm: $(($(date +%s) - start)) s" >>"$out/times.txt"
    "$bin" eval --checkpoint "$out/$arm/latest.safetensors" --game "$game" --rom "$rom" \
        --core "$core" --episodes "$episodes" --seed 7 "${vars[@]}" >"$out/$arm.eval" 2>&1
done
"$bin" eval --random --game "$game" --rom "$rom" --core "$core" --episodes "$episodes" --seed 7 \
    "${vars[@]}" >"$out/random.eval" 2>&1

echo "| policy | cells reached in training | best score | eval (from the folder's start, $episodes episodes, sampled) |"
echo "|---|---|---|---|"
for arm in archive control random; do
    cells=- best=-
    if [ -f "$out/$arm/archive/cells.csv" ]; then
        cells=$(($(wc -l <"$out/$arm/archive/cells.csv") - 1))
        best=$(tail -n +2 "$out/$arm/archive/cells.csv" | awk -F, 'BEGIN{m=0} {if ($(NF-2)+0 > m) m = $(NF-2)+0} END{print m}')
    fi
    echo "| $arm | $cells | $best | $(tail -n +2 "$out/$arm.eval" | tr '\n' ' ') |"
done

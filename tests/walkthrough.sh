#!/usr/bin/env bash
# Runs docs/new-game.md ("Adding a game") as written: every ```sh block of the page, in order,
# in one shell, in a temporary folder, except the blocks whose first line says they are not
# run by this script (the set-up, which this script does itself, and those needing a window).
# Then checks that the trained agent's mean return (the page's `gbfarm eval --checkpoint`)
# beats the random agent's (its `gbfarm eval --random`) by at least a coin.
#
#   tests/walkthrough.sh path/to/gbfarm [source dir]      (ctest: the walkthrough test)
set -euo pipefail

bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "${2:-$(dirname "$0")/..}" && pwd)
doc="$src/docs/new-game.md"
[ -x "$bin" ] || { echo "walkthrough: $bin: not an executable" >&2; exit 1; }
[ -r "$doc" ] || { echo "walkthrough: $doc: cannot read" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gbfarm-walkthrough.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The page's blocks, one after another; each is echoed before it runs.
steps="$work/steps.sh"
awk -v skip='not run by tests/walkthrough.sh' '
  !inside && /^```sh[[:space:]]*$/ { inside = 1; first = 1; n++; next }
  inside && /^```[[:space:]]*$/   { inside = 0; if (!skipped) print "echo \"### block " n " done\""; skipped = 0; next }
  inside && first { first = 0; if (index($0, skip)) { skipped = 1; next }
                    print "echo \"### block " n "\"" }
  inside && !skipped { print }
' "$doc" >"$steps"
[ "$(grep -c '^echo "### block [0-9]*"$' "$steps")" -ge 5 ] ||
  { echo "walkthrough: found too few sh blocks in $doc" >&2; exit 1; }

# What the page's set-up block does: gbfarm on the PATH, an empty folder, the ROM in it.
mkdir "$work/bin" "$work/catch-agent"
ln -s "$bin" "$work/bin/gbfarm"
cp "$src/states/catch-gb/catch.gb" "$work/catch-agent/"
log="$work/log.txt"
start=$SECONDS
if ! (cd "$work/catch-agent" && PATH="$work/bin:$PATH" bash -euo pipefail "$steps") 2>&1 |
     tee "$log"; then
  echo "walkthrough: a command of $doc failed, in the last block shown above" >&2
  exit 1
fi
elapsed=$((SECONDS - start))

# "return M ± S ..." after the first "random policy on ..." and the first "trained policy
# (...) on ..." (the page's 100-episode evals; the --record eval comes later).
mean_after() { awk -v what="$1" '$0 ~ "^" what " policy" { want = 1; next }
                                 want && /^return / { print $2; exit }' "$log"; }
random=$(mean_after random)
trained=$(mean_after trained)
if [ -z "$random" ] || [ -z "$trained" ]; then
  echo "walkthrough: no eval result found (random '$random', trained '$trained')" >&2
  exit 1
fi
echo "walkthrough: ${elapsed} s; mean return: random $random, trained $trained"
if ! awk -v r="$random" -v t="$trained" 'BEGIN { exit !(t >= r + 1) }'; then
  echo "walkthrough: the trained agent ($trained) does not beat the random one ($random) by 1" >&2
  exit 1
fi

#!/usr/bin/env bash
# The main job: build unimem, run unimem-probe on whatever device is here, then a short pass of
# every microbenchmark (about 0.05 s each). Results also land in build/results/ (text and JSON).
set -euo pipefail
UNIMEM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export UNIMEM_ROOT
# shellcheck source=scripts/deps.sh
source "$UNIMEM_ROOT/scripts/deps.sh"
unimem_ensure_deps

build=${UNIMEM_BUILD_DIR:-$UNIMEM_ROOT/build}
mkdir -p "$(dirname "$build")"
unimem_build "$build" -DUNIMEM_BUILD_TESTS=OFF -DUNIMEM_BUILD_TOOLS=ON -DUNIMEM_BUILD_BENCHMARKS=ON "$@"
results="$build/results"
mkdir -p "$results"

echo
"$build/tools/probe/unimem-probe" --json-out "$results/probe.json" | tee "$results/probe.txt"

export UNIMEM_BENCH_QUICK=1
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo
  echo "== $name"
  "$b" --benchmark_out="$results/$name.json" --benchmark_out_format=json | tee "$results/$name.txt"
done
echo
echo "unimem: results in $results"

#!/usr/bin/env bash
# The memory microbenchmarks in full, and their report: builds the benchmarks, runs bench_bandwidth
# and bench_latency over the full sweep (4 KiB to 1 GiB), writes their Google Benchmark JSON and
# console text, then charts (PNG) and Markdown tables (tables.md) with scripts/plot_benchmarks.py.
#
#   bash scripts/bench_report.sh [--quick] [--only bandwidth|latency]
#
# --quick runs the short sweep of the README's run command instead (UNIMEM_BENCH_QUICK=1).
# Output folder: $UNIMEM_REPORT_DIR, else $OUT/bench-report when OUT is set, else
# build/results/report. Build folder: $UNIMEM_BUILD_DIR, else build. GPU architectures:
# $UNIMEM_CUDA_ARCHITECTURES, else the GPU that is here (native), else the project's defaults.
set -euo pipefail
UNIMEM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export UNIMEM_ROOT
# shellcheck source=scripts/deps.sh
source "$UNIMEM_ROOT/scripts/deps.sh"

quick=0
only=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --only) only=${2:?--only needs bandwidth or latency}; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench_report.sh: unknown argument '$1' (try --help)" >&2; exit 1 ;;
  esac
  shift
done
case $only in ""|bandwidth|latency) ;; *) echo "bench_report.sh: --only takes bandwidth or latency, not '$only'" >&2; exit 1 ;; esac

unimem_ensure_deps
if [ -z "${UNIMEM_CUDA_ARCHITECTURES:-}" ] && nvidia-smi -L >/dev/null 2>&1; then
  export UNIMEM_CUDA_ARCHITECTURES=native
fi
build=${UNIMEM_BUILD_DIR:-$UNIMEM_ROOT/build}
mkdir -p "$(dirname "$build")"
unimem_build "$build" -DUNIMEM_BUILD_TESTS=OFF -DUNIMEM_BUILD_TOOLS=ON -DUNIMEM_BUILD_BENCHMARKS=ON

out=${UNIMEM_REPORT_DIR:-}
if [ -z "$out" ]; then
  if [ -n "${OUT:-}" ]; then out=$OUT/bench-report; else out=$build/results/report; fi
fi
mkdir -p "$out"
if [ $quick = 1 ]; then export UNIMEM_BENCH_QUICK=1; else unset UNIMEM_BENCH_QUICK; fi

"$build/tools/probe/unimem-probe" --json-out "$out/probe.json" >"$out/probe.txt" 2>&1 || true
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv >"$out/nvidia-smi.txt" 2>&1 || true

for name in bandwidth latency; do
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  echo "== bench_$name ($([ $quick = 1 ] && echo quick || echo full) sweep)"
  t0=$SECONDS
  "$build/bench/bench_$name" --benchmark_out="$out/bench_$name.json" --benchmark_out_format=json | tee "$out/bench_$name.txt"
  echo "bench_$name: $((SECONDS - t0)) s"
done

# The first python3 that has matplotlib draws the charts; any python3 writes the tables.
py=$(unimem_python_with matplotlib) || py=python3
shopt -s nullglob
jsons=("$out"/bench_*.json)
status=0
"$py" "$UNIMEM_ROOT/scripts/plot_benchmarks.py" --out "$out" "${jsons[@]}" || status=$?
echo "bench_report.sh: results, charts and tables.md in $out"
exit $status

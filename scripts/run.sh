#!/usr/bin/env bash
# The main job: build unimem, run unimem-probe on whatever device is here, then every
# microbenchmark (a short pass by default), and end with one summary: the board, its peaks, what
# each memory kind costs, allocation, pools, zero-copy and the policy's choice per access pattern.
#
#   bash scripts/run.sh            the short pass (UNIMEM_BENCH_QUICK=1)
#   bash scripts/run.sh --full     the full sweep (4 KiB to 1 GiB, every trace); also UNIMEM_BENCH_FULL=1
#   bash scripts/run.sh -DVAR=...  other arguments go to cmake
#
# While it runs it shows which benchmark binary runs, the time so far and about how long is left;
# their output goes to files. Results, in $UNIMEM_BUILD_DIR/results (default build/results):
#   summary.md, summary.json   the summary (scripts/summarize_results.py; compare two boards with
#                              scripts/compare_results.py a/summary.json b/summary.json)
#   charts/*.png, tables.md    the charts and tables of docs/benchmarks.md (charts need matplotlib)
#   probe.json, probe.txt      unimem-probe
#   bench_*.json, bench_*.txt  each benchmark binary's Google Benchmark JSON and console output
#   run.tsv, build.log         each binary's time and exit status; the build's output
# With OUT set (the lent GPU machine brings back what is under $OUT), it also writes
# $OUT/unimem-results.tgz (the results folder) and $OUT/summary.txt.
set -euo pipefail
UNIMEM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export UNIMEM_ROOT
# shellcheck source=scripts/deps.sh
source "$UNIMEM_ROOT/scripts/deps.sh"

full=${UNIMEM_BENCH_FULL:-0}
cmake_args=()
for a in "$@"; do
  case $a in
    --full) full=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) cmake_args+=("$a") ;;
  esac
done
[ "$full" = 1 ] || full=0

t_start=$SECONDS
tty=0
[ -t 1 ] && tty=1

clock() {  # seconds -> m:ss
  printf '%d:%02d' $(($1 / 60)) $(($1 % 60))
}

# Runs "$@" in the background with its output in $log; on a terminal, redraws one status line
# (status_line prints it) every second until it ends. Sets rc to its exit status.
run_quietly() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  local pid=$!
  if [ $tty = 1 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      printf '\r\033[K%s' "$(status_line)"
      sleep 1
    done
    printf '\r\033[K'
  fi
  rc=0
  wait "$pid" || rc=$?
}

# shellcheck disable=SC2119  # no extra packages: the charts' one is optional, below
unimem_ensure_deps
plot_py=$(unimem_python_with matplotlib) ||
  { unimem_optional_package python3-matplotlib charts >&2 && plot_py=$(unimem_python_with matplotlib); } || plot_py=""
summary_py=$(command -v python3 || true)

build=${UNIMEM_BUILD_DIR:-$UNIMEM_ROOT/build}
results="$build/results"
rm -rf "$results"
mkdir -p "$results"
echo "unimem: the main job: build, probe, $([ "$full" = 1 ] && echo "the full benchmark sweep" || echo "a short pass of the benchmarks (--full for the full sweep)"), summary"

# ---- build ----------------------------------------------------------------------------------------
build_step() {
  unimem_build "$build" -DUNIMEM_BUILD_TESTS=OFF -DUNIMEM_BUILD_TOOLS=ON -DUNIMEM_BUILD_BENCHMARKS=ON "${cmake_args[@]}"
}
status_line() {
  local step
  step=$(grep -o '^\[[0-9]*/[0-9]*\]' "$results/build.log" 2>/dev/null | tail -n 1 || true)
  echo "unimem: building in $build ${step:-(configuring)}  $(clock $((SECONDS - t_start)))"
}
t0=$SECONDS
run_quietly "$results/build.log" build_step
if [ $rc != 0 ]; then
  tail -n 40 "$results/build.log"
  echo "unimem: the build failed (exit $rc); the whole log is $results/build.log" >&2
  exit 1
fi
build_seconds=$((SECONDS - t0))
echo "unimem: built in $build_seconds s (log: results/build.log)"

# ---- probe ----------------------------------------------------------------------------------------
if ! "$build/tools/probe/unimem-probe" --json-out "$results/probe.json" >"$results/probe.txt" 2>&1; then
  cat "$results/probe.txt"
  echo "unimem: unimem-probe failed; the benchmarks run all the same" >&2
fi
no_gpu_reason=$(sed -n 's/^No CUDA GPU: //p' "$results/probe.txt" | head -n 1)
if [ -n "$no_gpu_reason" ]; then
  gpu=0
  echo "unimem: probe: no CUDA GPU ($no_gpu_reason); the GPU benchmarks are left out"
else
  gpu=1
  echo "unimem: probe: $(sed -n 's/^GPU //p' "$results/probe.txt" | head -n 1) (results/probe.txt)"
fi

# ---- benchmarks -----------------------------------------------------------------------------------
# Typical seconds of each binary, for "about how long is left". Without a GPU: measured on the 2-core
# CI machine. With a GPU: bench_bandwidth and bench_latency's full sweep measured on the H200
# (docs/benchmarks.md), the rest estimated (the quick pass and the build took 124 s there in all).
# The times of the last run of the same kind (build/results.previous.tsv) win over this table.
#                        quick           full
#                        no GPU  GPU     no GPU  GPU
typical_seconds="
bench_bandwidth          6       15      13      84
bench_latency            4       15      35      94
bench_managed_prefetch   1       5       1       10
bench_pinned_pool        1       5       1       10
bench_planner            24      15      120     90
bench_pool_ops           3       3       22      22
bench_replay             2       10      85      120
bench_residency          9       15      15      25
bench_resources          1       3       7       10
bench_tensor_view        1       3       1       10
bench_zero_copy          2       3       6       6
other                    5       10      20      30"
typical() {  # NAME
  local col=$((2 + gpu + 2 * full))
  local t
  t=$(awk -v n="$1" -v c="$col" '$1 == n { print $c }' <<<"$typical_seconds")
  [ -n "$t" ] || t=$(awk -v c="$col" '$1 == "other" { print $c }' <<<"$typical_seconds")
  echo "$t"
}
previous="$build/results.previous.tsv"
typical_or_last() {  # NAME: the time of the last run of the same kind, else typical
  local t=""
  [ -f "$previous" ] && grep -q "^# kind $([ "$full" = 1 ] && echo full || echo quick) gpu=$gpu\$" "$previous" &&
    t=$(awk -F'\t' -v n="$1" '$1 == n { print int($2 + 0.5) }' "$previous")
  echo "${t:-$(typical "$1")}"
}

if [ "$full" = 1 ]; then unset UNIMEM_BENCH_QUICK; else export UNIMEM_BENCH_QUICK=1; fi
binaries=()
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] && binaries+=("$b")
done
n=${#binaries[@]}
left=3  # the summary and the charts
for b in "${binaries[@]}"; do left=$((left + $(typical_or_last "$(basename "$b")"))); done
{
  echo "# kind $([ "$full" = 1 ] && echo full || echo quick) gpu=$gpu"
  echo "# mode $([ "$full" = 1 ] && echo full || echo quick)"
  echo "# build_seconds $build_seconds"
} >"$results/run.tsv"

t_bench=$SECONDS
failed=()
done_typical=0
done_actual=0
# About how long is left, in seconds, when the current binary has run $1 s: the typical times of
# what is left, scaled by how the finished binaries compared with theirs (between 0.5x and 3x).
estimate_left() {
  local scale=100 now
  [ $done_typical -gt 0 ] && scale=$((done_actual * 100 / done_typical))
  [ $scale -lt 50 ] && scale=50
  [ $scale -gt 300 ] && scale=300
  now=$((expect * scale / 100 - $1))
  [ $now -lt 0 ] && now=0
  echo $((left * scale / 100 + now))
}
i=0
for b in "${binaries[@]}"; do
  i=$((i + 1))
  name=$(basename "$b")
  expect=$(typical_or_last "$name")
  left=$((left - expect))
  t0=$SECONDS
  status_line() {
    printf "  [%${#n}d/%d] %-24s %4d s   total %s, about %s left" "$i" "$n" "$name" $((SECONDS - t0)) \
      "$(clock $((SECONDS - t_start)))" "$(clock "$(estimate_left $((SECONDS - t0)))")"
  }
  run_quietly "$results/$name.txt" "$b" --benchmark_out="$results/$name.json" --benchmark_out_format=json
  took=$((SECONDS - t0))
  done_typical=$((done_typical + expect))
  done_actual=$((done_actual + took))
  printf '%s\t%d\t%d\n' "$name" "$took" "$rc" >>"$results/run.tsv"
  expect=0
  printf "  [%${#n}d/%d] %-24s %4d s   total %s%s\n" "$i" "$n" "$name" "$took" "$(clock $((SECONDS - t_start)))" \
    "$([ "$i" -lt "$n" ] && echo ", about $(clock "$(estimate_left 0)") left")"
  note=$(grep -m1 "^$name: left out " "$results/$name.txt" || true)
  if [ -n "$note" ]; then
    note=${note#"$name: "}
    [ -n "$no_gpu_reason" ] && note=${note//"no CUDA GPU ($no_gpu_reason)"/no CUDA GPU}
    echo "         ${note}"
  fi
  errors=$(grep -c "ERROR OCCURRED" "$results/$name.txt" || true)
  [ "${errors:-0}" -gt 0 ] && echo "         $errors runs failed: see $results/$name.txt"
  if [ $rc != 0 ]; then
    failed+=("$name")
    echo "         FAILED (exit $rc); its last lines:"
    tail -n 5 "$results/$name.txt" | sed 's/^/           /'
  fi
done
bench_seconds=$((SECONDS - t_bench))
echo "# bench_seconds $bench_seconds" >>"$results/run.tsv"
cp "$results/run.tsv" "$previous"

# ---- summary and charts ---------------------------------------------------------------------------
echo
if [ -n "$summary_py" ]; then
  "$summary_py" "$UNIMEM_ROOT/scripts/summarize_results.py" "$results" | tee "$results/summary.txt"
else
  echo "unimem: python3 is not installed, so there is no summary; the results are in $results"
fi

charts="no charts (matplotlib is missing: sudo apt-get install -y python3-matplotlib)"
if [ -n "$plot_py" ]; then
  jsons=()
  for f in "$results/bench_bandwidth.json" "$results/bench_latency.json"; do
    [ -s "$f" ] && jsons+=("$f")
  done
  if [ ${#jsons[@]} -gt 0 ] && "$plot_py" "$UNIMEM_ROOT/scripts/plot_benchmarks.py" --out "$results/charts" "${jsons[@]}" \
    >"$results/charts.log" 2>&1; then
    charts="charts/ has $(find "$results/charts" -name '*.png' | wc -l) charts and tables.md"
  else
    charts="no charts: plot_benchmarks.py failed (see charts.log)"
  fi
fi
shown=${results#"$PWD"/}
echo
echo "unimem: done in $(clock $((SECONDS - t_start))) (build $(clock "$build_seconds"), benchmarks $(clock "$bench_seconds"))."
echo "        In $shown: summary.md and summary.json; $charts;"
echo "        probe.txt and each benchmark binary's JSON and console output (bench_*.json, bench_*.txt)."
if [ -n "${OUT:-}" ]; then
  tar -czf "$OUT/unimem-results.tgz" -C "$build" results
  cp "$results/summary.txt" "$OUT/summary.txt" 2>/dev/null || true
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "unimem: ${#failed[@]} benchmark binaries failed: ${failed[*]}" >&2
  exit 1
fi

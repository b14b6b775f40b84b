#!/usr/bin/env bash
# The GPU check for a machine with an NVIDIA GPU: build, every test with UNIMEM_REQUIRE_GPU=1 (a
# skipped GPU test is a failure), compute-sanitizer memcheck over the test binary, unimem-probe, and
# a short pass of the benchmarks; every host source is also compiled against CUDA 12 headers
# (JetPack 6). Prints a short table last. Logs go to $OUT (when set) or build-gpu/logs.
# Optional: UNIMEM_CUDA_ARCHITECTURES (default: native), UNIMEM_SKIP_BENCH=1, UNIMEM_CUDA12_INCLUDE,
# UNIMEM_SANITIZER_SHARDS (parallel memcheck processes, default 8), UNIMEM_SANITIZER_TIMEOUT (s, 420),
# UNIMEM_SANITIZER_FILTER (a gtest filter).
set -uo pipefail
UNIMEM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export UNIMEM_ROOT
# shellcheck source=scripts/deps.sh
source "$UNIMEM_ROOT/scripts/deps.sh"
unimem_ensure_deps || exit 1
export UNIMEM_CUDA_ARCHITECTURES=${UNIMEM_CUDA_ARCHITECTURES:-native}

build=${UNIMEM_BUILD_DIR:-$UNIMEM_ROOT/build-gpu}
logs=$build/logs
mkdir -p "$build" "$logs"
rows=()
failed=0

step() {  # step NAME LOGFILE COMMAND...
  local name=$1 log=$2
  shift 2
  local t0=$SECONDS
  if "$@" >"$logs/$log" 2>&1; then
    rows+=("$(printf '%-34s %-6s %6ss  %s' "$name" ok $((SECONDS - t0)) "$log")")
  else
    rows+=("$(printf '%-34s %-6s %6ss  %s' "$name" FAIL $((SECONDS - t0)) "$log")")
    failed=1
    tail -n 40 "$logs/$log"
  fi
}

memcheck_shards() {  # memcheck_shards BINARY LOGDIR: every shard must pass; prints each summary
  local binary=$1 dir=$2 shards=${UNIMEM_SANITIZER_SHARDS:-8} i pids=() rc=0
  for ((i = 0; i < shards; i++)); do
    GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i UNIMEM_REQUIRE_GPU=1 timeout "${UNIMEM_SANITIZER_TIMEOUT:-420}" \
      compute-sanitizer --tool memcheck --leak-check full --report-api-errors no --error-exitcode 1 \
      "$binary" ${UNIMEM_SANITIZER_FILTER:+--gtest_filter=$UNIMEM_SANITIZER_FILTER} \
      >"$dir/memcheck.$i.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 0; i < shards; i++)); do
    if wait "${pids[$i]}"; then
      echo "shard $i/$shards: ok: $(grep -h 'ERROR SUMMARY' "$dir/memcheck.$i.log" | tail -n 1)"
    else
      rc=1
      echo "shard $i/$shards: FAILED (exit status $?; timed out if 124); last test started: $(grep -h '^\[ RUN' "$dir/memcheck.$i.log" | tail -n 1)"
      grep -hE 'ERROR SUMMARY|FAILED|Invalid|Leaked' "$dir/memcheck.$i.log" | head -n 20
    fi
  done
  return $rc
}

extra=()
# The device machine has no system dlpack.h; a copy carried in the git-ignored .carry/ is used.
[ -f "$UNIMEM_ROOT/.carry/dlpack/dlpack/dlpack.h" ] && extra+=("-DUNIMEM_DLPACK_INCLUDE_DIR=$UNIMEM_ROOT/.carry/dlpack")
step build build.log unimem_build "$build" -DUNIMEM_BUILD_TESTS=ON -DUNIMEM_BUILD_TOOLS=ON -DUNIMEM_BUILD_BENCHMARKS=ON "${extra[@]}"
if [ $failed = 0 ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$logs/gpu.txt" 2>&1 || true
  step "ctest (UNIMEM_REQUIRE_GPU=1)" ctest.log env UNIMEM_REQUIRE_GPU=1 ctest --test-dir "$build" --output-on-failure --parallel 4 --timeout 600
  # Negative tests provoke CUDA API errors on purpose (foreign pointers, 1 EiB requests), so API
  # errors are not reported; memory errors and device-memory leaks are. The binary runs as
  # gtest shards in parallel processes (memcheck slows each 10-100x; the GPU takes them together);
  # the full gtest output is kept so that a shard that times out names the test it was in.
  step "compute-sanitizer memcheck" memcheck.log memcheck_shards "$build/tests/unimem_tests" "$logs"
  # JetPack 6 is CUDA 12.2/12.6: every host source is also compiled (syntax only, the build's own
  # flags) against CUDA 12 headers, by default the 12.8 headers in PyTorch's triton package.
  cuda12=${UNIMEM_CUDA12_INCLUDE:-$(python3 -c 'import os, triton; print(os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "include"))' 2>/dev/null || true)}
  if [ -n "$cuda12" ] && [ -f "$cuda12/cuda_runtime_api.h" ]; then
    step "host sources vs CUDA 12 headers" cuda12.log python3 "$UNIMEM_ROOT/scripts/cuda12_syntax_check.py" "$build" "$cuda12"
  else
    rows+=("$(printf '%-34s %-6s %6s   %s' "host sources vs CUDA 12 headers" skip - "no CUDA 12 headers: set UNIMEM_CUDA12_INCLUDE")")
  fi
  step "unimem-probe" probe.txt "$build/tools/probe/unimem-probe" --json-out "$logs/probe.json"
  # The pool against its peers on every shared and recorded trace, all in one run (docs/pools.md).
  step "unimem-replay: pool vs peers" replay.log bash -c '"$1" --json --repetitions 3 \
      --resource pool_device --resource cub_pow2 --resource cub_default --resource cuda_mempool --resource cuda_malloc \
      "$2/data/alloc-traces" "$2/data/workload-traces" >"$3/replay.jsonl" &&
    python3 "$2/scripts/replay_table.py" "$3/replay.jsonl" >"$3/replay.md" && tail -n 1 "$3/replay.md"' \
    replay "$build/tools/replay/unimem-replay" "$UNIMEM_ROOT" "$logs"
  if [ "${UNIMEM_SKIP_BENCH:-0}" != 1 ]; then
    for b in "$build"/bench/bench_*; do
      [ -x "$b" ] || continue
      n=$(basename "$b")
      step "$n" "$n.txt" env UNIMEM_BENCH_QUICK=1 "$b" --benchmark_out="$logs/$n.json" --benchmark_out_format=json
    done
  fi
fi

echo
echo "GPU: $(cat "$logs/gpu.txt" 2>/dev/null || echo unknown)"
grep -h "ERROR SUMMARY" "$logs"/memcheck.*.log 2>/dev/null | sort | uniq -c
grep -hE "tests passed|tests failed" "$logs/ctest.log" 2>/dev/null | tail -n 1
tail -n 1 "$logs/cuda12.log" 2>/dev/null
tail -n 1 "$logs/replay.md" 2>/dev/null
printf '%-34s %-6s %7s  %s\n' step result time log
printf '%s\n' "${rows[@]}"
# The device tool brings back at most 8 files from $OUT: one archive of every log, and the table.
if [ -n "${OUT:-}" ]; then
  tar -czf "$OUT/gpu-check-logs.tgz" -C "$build" logs
  { printf '%-34s %-6s %7s  %s\n' step result time log; printf '%s\n' "${rows[@]}"; } >"$OUT/gpu-check-table.txt"
fi
exit $failed

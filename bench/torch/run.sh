#!/usr/bin/env bash
# One command on a GPU machine with PyTorch: builds libunimem_torch (Release; no tests, benchmarks
# or tools, so no nvcc work), then runs the real-model harness for PyTorch's caching allocator,
# expandable segments, cudaMallocAsync and unimem, and with --test also the Python tests
# (UNIMEM_REQUIRE_GPU=1: a skipped GPU test is a failure) and examples/pytorch_jetson.
#
#   bash bench/torch/run.sh [--quick] [--test | --tests-only] [--out DIR] [harness arguments...]
#   (--tests-only: the build, the Python tests and the example, without the harness)
#
# Results in DIR (default build-torch/results): results.json, results.md, results.png,
# harness.log, and with --test pytest.txt and example.txt; build.log when the build fails.
# Settings: PYTHON (default python3), UNIMEM_TORCH_BUILD_DIR (default build-torch),
# UNIMEM_CUDA_ARCHITECTURES (default 90; used only if CUDA code is compiled), UNIMEM_TORCH_*
# (reach the unimem runs, see docs/pytorch.md).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-python3}
build=${UNIMEM_TORCH_BUILD_DIR:-$root/build-torch}
out=""
run_tests=0
run_harness=1
harness_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --test) run_tests=1; shift ;;
    --tests-only) run_tests=1; run_harness=0; shift ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) harness_args+=("$1"); shift ;;
  esac
done
out=${out:-$build/results}
mkdir -p "$out" "$build"
out=$(cd "$out" && pwd)
start=$SECONDS

# dlpack.h for the tensor half of the library: PyTorch's own copy (the ABI torch.from_dlpack
# reads), else one carried in .carry/dlpack, else the system's. Copied into the build tree so
# that none of torch/include lands on the include path.
dlpack_dir=$build/dlpack
mkdir -p "$dlpack_dir/dlpack"
torch_include=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))' 2>/dev/null || true)
dlpack_header=""
for candidate in "$torch_include/dlpack/dlpack.h" "$torch_include/ATen/dlpack.h" \
                 "$root/.carry/dlpack/dlpack/dlpack.h" /usr/include/dlpack/dlpack.h; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then dlpack_header=$candidate; break; fi
done
dlpack_args=()
if [ -n "$dlpack_header" ]; then
  cp "$dlpack_header" "$dlpack_dir/dlpack/dlpack.h"
  dlpack_args=("-DUNIMEM_DLPACK_INCLUDE_DIR=$dlpack_dir")
  echo "run.sh: dlpack.h from $dlpack_header"
else
  echo "run.sh: no dlpack.h found (PyTorch's, .carry/dlpack or the system's): unimem tensors are left out" >&2
fi

gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
export PATH="$PATH:/usr/local/cuda/bin"
echo "run.sh: building libunimem_torch in $build"
if ! { cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_CUDA_ARCHITECTURES="${UNIMEM_CUDA_ARCHITECTURES:-90}" \
         -DUNIMEM_BUILD_TESTS=OFF -DUNIMEM_BUILD_BENCHMARKS=OFF -DUNIMEM_BUILD_TOOLS=OFF "${dlpack_args[@]}" &&
       cmake --build "$build" --target unimem_torch --parallel "$(nproc)"; } >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"
  echo "run.sh: the build failed (log: $out/build.log)" >&2
  exit 1
fi
rm -f "$out/build.log"
echo "run.sh: built in $((SECONDS - start)) s"

export UNIMEM_TORCH_LIBRARY=$build/integrations/torch_allocator/libunimem_torch.so
export PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
status=0

if [ $run_harness = 1 ]; then
  "$python" "$root/bench/torch/harness.py" --out "$out" "${harness_args[@]}" 2>&1 | tee "$out/harness.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  rm -rf "$out/runs"  # every run is in results.json too; the folder would exceed what a GPU lease brings back
fi

if [ $run_tests = 1 ]; then
  echo "run.sh: Python tests with UNIMEM_REQUIRE_GPU=1"
  UNIMEM_REQUIRE_GPU=1 "$python" -m pytest "$root/python/tests" -q -rs -p no:cacheprovider 2>&1 | tee "$out/pytest.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  echo "run.sh: examples/pytorch_jetson"
  "$python" "$root/examples/pytorch_jetson/main.py" --frames 30 2>&1 | tee "$out/example.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
echo "run.sh: done in $((SECONDS - start)) s, status $status; results in $out"
exit $status

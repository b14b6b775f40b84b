#!/usr/bin/env bash
# Builds unimem with its tests and runs them. GPU tests skip without a GPU (set
# UNIMEM_REQUIRE_GPU=1 to make that a failure). Build dir: build/ (override with UNIMEM_BUILD_DIR).
set -euo pipefail
UNIMEM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export UNIMEM_ROOT
# shellcheck source=scripts/deps.sh
source "$UNIMEM_ROOT/scripts/deps.sh"
unimem_ensure_deps

build=${UNIMEM_BUILD_DIR:-$UNIMEM_ROOT/build}
mkdir -p "$(dirname "$build")"
unimem_build "$build" -DUNIMEM_BUILD_TESTS=ON -DUNIMEM_BUILD_TOOLS=ON -DUNIMEM_BUILD_BENCHMARKS=ON "$@"
cd "$build"
ctest --output-on-failure --parallel "${UNIMEM_JOBS:-$(nproc)}" --timeout 600

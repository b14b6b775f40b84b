#!/usr/bin/env bash
# Sourced by run.sh, test.sh and .ci/run: makes sure the build's prerequisites are present.
# As root it installs missing Debian/Ubuntu packages itself; otherwise it prints the exact command.
# Usage: unimem_ensure_deps [extra-package ...]   (extra packages are named by Debian name and
#        checked with dpkg; the core ones are checked by their headers and commands so that
#        toolchains installed outside the package manager count too)

unimem_find_nvcc() {
  if command -v nvcc >/dev/null 2>&1; then return 0; fi
  for d in /usr/local/cuda/bin /usr/local/cuda-13.0/bin /usr/local/cuda-12/bin; do
    if [ -x "$d/nvcc" ]; then export PATH="$d:$PATH"; return 0; fi
  done
  return 1
}

unimem_header_present() {
  [ -e "/usr/include/$1" ] || [ -e "/usr/local/include/$1" ]
}

unimem_ensure_deps() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
  unimem_header_present fmt/format.h || missing+=(libfmt-dev)
  unimem_header_present gtest/gtest.h || missing+=(libgtest-dev)
  unimem_header_present benchmark/benchmark.h || missing+=(libbenchmark-dev)
  unimem_header_present zlib.h || missing+=(zlib1g-dev)
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done

  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "unimem: installing missing packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        echo "unimem: apt-get could not install: ${missing[*]} (no network?). Install them and rerun." >&2
        return 1
      fi
    else
      echo "unimem: missing prerequisites. Run:" >&2
      echo "  sudo apt-get install -y ${missing[*]}" >&2
      return 1
    fi
  fi

  if ! unimem_find_nvcc; then
    echo "unimem: the CUDA toolkit (12.2 or later, with nvcc) was not found on PATH or in /usr/local/cuda." >&2
    echo "  On Jetson it comes with JetPack (sudo apt-get install -y nvidia-jetpack);" >&2
    echo "  on x86 install NVIDIA's cuda-toolkit package, then: export PATH=/usr/local/cuda/bin:\$PATH" >&2
    return 1
  fi
  return 0
}

# Configures and builds into $1 with the remaining arguments passed to cmake.
unimem_build() {
  local dir=$1
  shift
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  if [ -n "${UNIMEM_CUDA_ARCHITECTURES:-}" ]; then set -- "$@" "-DCMAKE_CUDA_ARCHITECTURES=${UNIMEM_CUDA_ARCHITECTURES}"; fi
  mkdir -p "$dir"
  cmake -S "$UNIMEM_ROOT" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; echo "unimem: cmake configure failed (log above)" >&2; return 1; }
  cmake --build "$dir" --parallel "${UNIMEM_JOBS:-$(nproc)}"
}

# Prints the path of the first python3 that can import module $1: python3 on PATH, then the
# system's /usr/bin/python3 (where Debian's python3-* packages install). Fails when none can.
unimem_python_with() {
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c "import $1" >/dev/null 2>&1; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}

# An optional Debian package ($1) for something the run can do without ($2, e.g. "charts"): as root
# it is installed (within 3 minutes: a machine without network must not hang here), otherwise the
# command that installs it is printed. Never fails the caller; returns 0 when it is installed now.
unimem_optional_package() {
  local pkg=$1 what=$2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "unimem: installing $pkg for the $what"
    if DEBIAN_FRONTEND=noninteractive timeout 180 sh -c \
      "apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkg" >/dev/null 2>&1; then
      return 0
    fi
    echo "unimem: apt-get could not install $pkg (no network?): no $what. Install it with: apt-get install -y $pkg"
    return 1
  fi
  echo "unimem: no $what: $pkg is not installed. Install it with: sudo apt-get install -y $pkg"
  return 1
}

#!/usr/bin/env bash
# Compares the SASS of bench_tensor_view's raw-pointer kernels with their tensor_view / pitched_view
# / mdspan peers: instruction counts per kernel, then for each raw ↔ view pair whether the two are
# the same instruction sequence once register numbers and kernel-parameter offsets are ignored
# (the parameters sit at different constant-bank offsets because raw kernels take loose pointers
# and integers, view kernels structs).
#
#   bash scripts/view-sass.sh [build/bench/bench_tensor_view]
#
# Needs cuobjdump (CUDA toolkit) and c++filt (binutils). Exit status 1 when a pair differs.
set -euo pipefail
bin=${1:-build/bench/bench_tensor_view}
cuobjdump=${CUOBJDUMP:-$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$cuobjdump" -sass "$bin" >"$work/all.sass"

# One file per kernel: the instructions without encodings, trailing NOP padding and the final
# self-branch removed; named by the demangled kernel name.
awk -v dir="$work" '
  /Function :/ { if (out) close(out); n++; out = dir "/k" n; print $3 > (dir "/k" n ".name"); next }
  out && /\/\*[0-9a-f][0-9a-f][0-9a-f][0-9a-f]+\*\// {
    line = $0
    sub(/^[ \t]*\/\*[0-9a-f]+\*\/[ \t]*/, "", line)
    sub(/[ \t]*;.*$/, "", line)
    gsub(/[ \t]+/, " ", line)
    print line > out
  }' "$work/all.sass"

count() {  # instructions, without the padding after the last EXIT
  awk '{ a[NR] = $0 } END { n = NR; while (n > 0 && (a[n] == "NOP" || a[n] ~ /^BRA 0x/)) n--; print n }' "$1"
}
normalise() {
  sed -E 's/\bU?R[0-9]+\b/R/g; s/\bU?P[0-6]\b/P/g; s/c\[0x0\]\[0x[0-9a-f]+\]/c[]/g; s/0x[0-9a-f]+/IMM/g' "$1"
}
find_kernel() {  # first kernel whose demangled name contains every argument
  for f in "$work"/k*.name; do
    local name
    name=$(c++filt "$(cat "$f")")
    local ok=1
    for s in "$@"; do [[ $name == *"$s"* ]] || ok=0; done
    if ((ok)); then echo "${f%.name}"; return; fi
  done
}

printf '%-100s %6s\n' kernel instructions
for f in "$work"/k*.name; do
  name=$(c++filt "$(cat "$f")" | sed -E 's/\(anonymous namespace\)::|cuda::std::__[0-9]+::|unimem:://g')
  case $name in *raw_* | *view_*) printf '%-100.100s %6d\n' "$name" "$(count "${f%.name}")" ;; esac
done

echo
status=0
pair() {  # label, raw kernel pattern, view kernel patterns...
  local label=$1 raw view
  raw=$(find_kernel "$2")
  shift 2
  view=$(find_kernel "$@")
  if [[ -z $raw || -z $view ]]; then echo "$label: kernel not found"; status=1; return; fi
  local d
  d=$(diff <(normalise "$raw") <(normalise "$view") | grep -c '^[<>]' || true)
  if [[ ! -s $raw || ! -s $view ]]; then echo "$label: no instructions parsed"; status=1; return; fi
  printf '%-44s raw %4d  view %4d  differing instructions after normalising: %d\n' "$label" \
    "$(count "$raw")" "$(count "$view")" "$d"
  ((d == 0)) || status=1
}
pair "1-D  raw_1d / tensor_view<float,1>" "raw_1d(" view_1d "1ul, unimem::layout_right"
pair "1-D  raw_1d / mdspan layout_right" "raw_1d(" view_1d "mdspan<float" "layout_right"
pair "2-D  raw_2d / tensor_view<float,2>" "raw_2d(" view_2d "2ul, unimem::layout_right"
pair "2-D  raw_2d / mdspan layout_right" "raw_2d(" view_2d "mdspan<float" "layout_right"
pair "2-D  raw_2d_pitched / pitched_view<float,2>" "raw_2d_pitched(" view_2d "unimem::layout_pitched"
pair "3-D  raw_3d / tensor_view<float,3>" "raw_3d(" view_3d "3ul, unimem::layout_right"
pair "3-D  raw_3d / mdspan layout_right" "raw_3d(" view_3d "mdspan<float" "layout_right"
exit $status

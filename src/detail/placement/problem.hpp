// Internal: the placer's view of its input. Tensors with bytes > 0 in order of first use, their
// lifetimes compressed to sections, the lower bound, and on demand the conflict graph. Not installed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "detail/placement/placer.hpp"

namespace unimem::detail::placement {

using index_t = std::uint32_t;
constexpr std::size_t unplaced = std::numeric_limits<std::size_t>::max();

/// Sorts `idx` stably by key(i), ascending: LSD radix sort on 11-bit digits, skipping digits in
/// which all keys agree. Linear time, which matters at 100 000 tensors.
template <class Key>
void radix_sort(std::vector<index_t>& idx, Key key) {
  const std::size_t n = idx.size();
  if (n < 64) {
    std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) { return key(a) < key(b); });
    return;
  }
  std::vector<std::pair<std::uint64_t, index_t>> a(n), b(n);
  std::uint64_t any = 0, all = ~std::uint64_t{0};
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = {static_cast<std::uint64_t>(key(idx[i])), idx[i]};
    any |= a[i].first;
    all &= a[i].first;
  }
  constexpr int bits = 11;
  constexpr std::uint64_t mask = (1u << bits) - 1;
  std::vector<std::size_t> count(std::size_t{1} << bits);
  for (int shift = 0; shift < 64; shift += bits) {
    if ((((any ^ all) >> shift) & mask) == 0) continue;  // every key has the same digit here
    std::fill(count.begin(), count.end(), 0);
    for (const auto& x : a) ++count[(x.first >> shift) & mask];
    std::size_t sum = 0;
    for (auto& c : count) {
      const std::size_t here = c;
      c = sum;
      sum += here;
    }
    for (const auto& x : a) b[count[(x.first >> shift) & mask]++] = x;
    a.swap(b);
  }
  for (std::size_t i = 0; i < n; ++i) idx[i] = a[i].second;
}


/// The tensors with bytes > 0, in order of first_op, their lifetimes compressed to "sections":
/// the distinct first_op values. Two tensors overlap in time iff they share a section, because
/// the later of two overlapping starts lies inside both lifetimes.
struct problem {
  std::size_t n = 0;
  std::vector<std::size_t> original;  // problem index -> caller's index
  std::vector<std::size_t> size, align;
  std::vector<index_t> s, e;          // sections [s, e], inclusive
  std::vector<std::size_t> first, last;  // the lifetimes as given (ops), for tie-breaks by width
  std::vector<index_t> section_begin; // tensors starting in section t: [section_begin[t], section_begin[t+1])
  index_t sections = 0;
  std::size_t lower_bound = 0;
  std::size_t max_alignment = 1;
  std::uint64_t overlap_pairs = 0;
  std::uint64_t max_live_count = 0;   // most tensors live at once
  // Conflict graph (tensors that overlap in time) in CSR form; built on demand.
  std::vector<std::uint64_t> adj_begin;
  std::vector<index_t> adj;

  std::size_t degree(index_t i) const { return static_cast<std::size_t>(adj_begin[i + 1] - adj_begin[i]); }
  const index_t* neighbours(index_t i) const { return adj.data() + adj_begin[i]; }
  index_t duration(index_t i) const { return e[i] - s[i]; }
};


problem make_problem(const std::vector<lifetime>& tensors);

/// The problem of some of p's tensors (indices into p); its `original` indexes `members`.
problem make_subproblem(const problem& p, const std::vector<index_t>& members);

/// Builds the conflict graph by a sweep over sections (two passes: degrees, then fill).
void build_conflicts(problem& p);

/// Max over tensors of offset + bytes.
std::size_t arena_of(const problem& p, const std::vector<std::size_t>& off);

}  // namespace unimem::detail::placement

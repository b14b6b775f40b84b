// Exact reductions: independent parts and spanning tensors (see decompose.hpp).
#include "detail/placement/decompose.hpp"

#include <algorithm>
#include <limits>

#include "detail/size_math.hpp"

namespace unimem::detail::placement {
namespace {

/// Minimum over a fixed array with "first position in [lo, hi] holding at most x".
class min_tree {
 public:
  explicit min_tree(const std::vector<std::uint32_t>& values) : n_(values.size()) {
    while (leaves_ < n_) leaves_ <<= 1;
    min_.assign(2 * leaves_, std::numeric_limits<std::uint32_t>::max());
    std::copy(values.begin(), values.end(), min_.begin() + static_cast<std::ptrdiff_t>(leaves_));
    for (std::size_t v = leaves_ - 1; v >= 1; --v) min_[v] = std::min(min_[2 * v], min_[2 * v + 1]);
  }

  /// First i in [lo, hi] with values[i] <= x, or hi + 1.
  std::size_t first_at_most(std::size_t lo, std::size_t hi, std::uint32_t x) const {
    if (lo > hi) return hi + 1;
    std::size_t v = leaves_ + lo;
    if (min_[v] <= x) return lo;
    // Climb until a right sibling holds a small enough value, then descend into it.
    while (true) {
      while (v & 1) {
        v >>= 1;
        if (v <= 1) return hi + 1;
      }
      ++v;
      if (min_[v] <= x) break;
    }
    while (v < leaves_) v = min_[2 * v] <= x ? 2 * v : 2 * v + 1;
    const std::size_t i = v - leaves_;
    return i <= hi ? i : hi + 1;
  }

 private:
  std::size_t n_ = 0, leaves_ = 1;
  std::vector<std::uint32_t> min_;
};

}  // namespace

decomposition decompose(const problem& p) {
  decomposition out;
  out.offsets.assign(p.n, unplaced);
  if (p.n == 0) return out;
  const std::size_t S = p.sections;
  // cross[t]: tensors live in both section t and t + 1.
  std::vector<std::uint32_t> cross(S > 1 ? S - 1 : 1, 0);
  {
    std::vector<std::int64_t> diff(S + 1, 0);
    for (index_t k = 0; k < p.n; ++k) {
      if (p.e[k] > p.s[k]) {
        ++diff[p.s[k]];
        --diff[p.e[k]];
      }
    }
    std::int64_t run = 0;
    for (std::size_t t = 0; t + 1 < S; ++t) cross[t] = static_cast<std::uint32_t>(run += diff[t]);
  }
  const min_tree tree(cross);
  // Tensors of each starting section by last section, latest first: the spanning tensors of a
  // part starting there are the leading ones not yet stacked.
  std::vector<index_t> by_end(p.n);
  for (index_t k = 0; k < p.n; ++k) by_end[k] = k;
  radix_sort(by_end, [&](index_t k) { return ~std::uint64_t{0} - p.e[k]; });
  radix_sort(by_end, [&](index_t k) { return p.s[k]; });  // stable: latest end first per start
  std::vector<index_t> next(p.section_begin.begin(), p.section_begin.end() - 1);  // per start

  struct part {
    index_t a, b;        // sections [a, b]
    std::uint32_t d;     // stacked tensors live across all of it
    std::size_t base;
  };
  std::vector<part> work;
  auto split = [&](index_t a, index_t b, std::uint32_t d, std::size_t base) {
    // Boundaries t in [a, b) crossed by no tensor of the part cut it.
    index_t lo = a;
    std::size_t t = tree.first_at_most(a, b == a ? a : b - 1, d);
    while (b > a && t < b) {
      work.push_back({lo, static_cast<index_t>(t), d, base});
      lo = static_cast<index_t>(t + 1);
      t = tree.first_at_most(t + 1, b - 1, d);
    }
    work.push_back({lo, b, d, base});
  };
  split(0, static_cast<index_t>(S - 1), 0, 0);
  std::vector<std::pair<index_t, index_t>> leaf_ranges;
  std::vector<std::size_t> leaf_base;
  while (!work.empty()) {
    const part w = work.back();
    work.pop_back();
    std::size_t base = w.base;
    std::uint32_t stacked = 0;
    index_t& i = next[w.a];
    const index_t group_end = p.section_begin[w.a + 1];
    while (i < group_end && p.e[by_end[i]] == w.b) {
      const index_t k = by_end[i++];
      out.offsets[k] = align_up(base, p.align[k]);
      base = out.offsets[k] + p.size[k];
      out.stacked_top = std::max(out.stacked_top, base);
      ++stacked;
    }
    if (w.a == w.b) continue;  // every tensor of a one-section part spans it
    if (stacked == 0) {
      leaf_ranges.emplace_back(w.a, w.b);
      leaf_base.push_back(base);
      continue;
    }
    split(w.a, w.b, w.d + stacked, base);
  }
  // Members of each leaf: the tensors not stacked whose start lies in its range.
  std::vector<std::uint32_t> leaf_of(S, std::numeric_limits<std::uint32_t>::max());
  out.leaves.resize(leaf_ranges.size());
  for (std::size_t l = 0; l < leaf_ranges.size(); ++l) {
    for (index_t t = leaf_ranges[l].first; t <= leaf_ranges[l].second; ++t) leaf_of[t] = static_cast<std::uint32_t>(l);
    out.leaves[l].base = leaf_base[l];
  }
  for (index_t k = 0; k < p.n; ++k) {
    if (out.offsets[k] == unplaced) out.leaves[leaf_of[p.s[k]]].members.push_back(k);
  }
  return out;
}

}  // namespace unimem::detail::placement

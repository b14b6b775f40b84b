// Greedy placement, settling and the portfolio's orders.
#include "detail/placement/heuristics.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "detail/placement/skyline.hpp"
#include "detail/size_math.hpp"

namespace unimem::detail::placement {

std::vector<std::size_t> greedy(const problem& p, const std::vector<index_t>& order, fit rule) {
  std::vector<std::pair<std::size_t, std::size_t>> range(p.n, {unplaced, 0});  // [offset, end)
  std::vector<std::pair<std::size_t, std::size_t>> busy;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const index_t k = order[i];
    // The order jumps around the graph, so fetch what the next tensors will read: this loop is
    // bound by memory latency at 100 000 tensors.
    if (i + 8 < order.size()) __builtin_prefetch(&p.adj_begin[order[i + 8]]);
    if (i + 4 < order.size()) {
      const index_t ahead = order[i + 4];
      __builtin_prefetch(p.adj.data() + p.adj_begin[ahead]);
      __builtin_prefetch(&range[ahead]);
      __builtin_prefetch(&p.size[ahead]);
      __builtin_prefetch(&p.align[ahead]);
    }
    busy.clear();
    const index_t* nb = p.neighbours(k);
    for (std::size_t x = 0, d = p.degree(k); x < d; ++x) {
      const auto& r = range[nb[x]];
      if (r.first != unplaced) busy.push_back(r);
    }
    std::sort(busy.begin(), busy.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    const std::size_t need = p.size[k], a = p.align[k];
    std::size_t prev_end = 0, best = unplaced, best_slack = unplaced;
    for (const auto& [lo, hi] : busy) {
      const std::size_t start = align_up(prev_end, a);
      if (lo >= start && lo - start >= need) {
        const std::size_t slack = lo - start - need;
        if (slack < best_slack) {
          best = start;
          best_slack = slack;
          if (rule == fit::first || slack == 0) break;
        }
      }
      prev_end = std::max(prev_end, hi);
    }
    const std::size_t o = best != unplaced ? best : align_up(prev_end, a);
    range[k] = {o, o + need};
  }
  std::vector<std::size_t> off(p.n);
  for (std::size_t k = 0; k < p.n; ++k) off[k] = range[k].first;
  return off;
}


void settle(const problem& p, std::vector<std::size_t>& off) {
  // In order of offset, every tensor below k that k overlaps in time has been lowered already and
  // ends at or below k, so k's floor is the skyline's maximum over k's sections.
  std::vector<index_t> order(p.n);
  std::iota(order.begin(), order.end(), index_t{0});
  radix_sort(order, [&](index_t k) { return off[k]; });
  skyline sky(p.sections);
  for (index_t k : order) {
    off[k] = std::min(off[k], align_up(sky.max(p.s[k], p.e[k]), p.align[k]));
    sky.raise(p.s[k], p.e[k], off[k] + p.size[k]);
  }
}


std::vector<index_t> order_by(const problem& p, order_key key) {
  std::vector<index_t> order(p.n);
  std::iota(order.begin(), order.end(), index_t{0});
  constexpr auto all = ~std::uint64_t{0};
  switch (key) {
    case order_key::size:  // size, then longer lifetime
      radix_sort(order, [&](index_t k) { return all - p.duration(k); });
      radix_sort(order, [&](index_t k) { return all - p.size[k]; });
      break;
    case order_key::area: {  // bytes x sections, then size
      radix_sort(order, [&](index_t k) { return all - p.size[k]; });
      radix_sort(order, [&](index_t k) {
        const double area = static_cast<double>(p.size[k]) * (static_cast<double>(p.duration(k)) + 1.0);
        std::uint64_t bits = 0;
        static_assert(sizeof bits == sizeof area, "IEEE double expected");
        std::memcpy(&bits, &area, sizeof bits);  // positive doubles order like their bit patterns
        return all - bits;
      });
      break;
    }
    case order_key::lifetime:  // lifetime, then size
      radix_sort(order, [&](index_t k) { return all - p.size[k]; });
      radix_sort(order, [&](index_t k) { return all - p.duration(k); });
      break;
  }
  return order;
}

/// Greedy-by-breadth (Pisarchyk & Lee): sections by live bytes, largest first; within a section
/// its tensors by size.
std::vector<index_t> order_by_breadth(const problem& p) {
  std::vector<std::size_t> breadth(p.sections + 1, 0);
  for (index_t k = 0; k < p.n; ++k) {
    breadth[p.s[k]] += p.size[k];
    breadth[p.e[k] + 1] -= p.size[k];
  }
  for (index_t t = 1; t < p.sections; ++t) breadth[t] += breadth[t - 1];
  std::vector<index_t> secs(p.sections);
  std::iota(secs.begin(), secs.end(), index_t{0});
  radix_sort(secs, [&](index_t t) { return ~std::uint64_t{0} - breadth[t]; });
  std::vector<index_t> sec_rank(p.sections);
  for (index_t r = 0; r < p.sections; ++r) sec_rank[secs[r]] = r;
  // A tensor belongs to its broadest section, which is where it is placed first.
  std::vector<index_t> home(p.n);
  for (index_t k = 0; k < p.n; ++k) {
    index_t best = sec_rank[p.s[k]];
    for (index_t t = p.s[k] + 1; t <= p.e[k]; ++t) best = std::min(best, sec_rank[t]);
    home[k] = best;
  }
  std::vector<index_t> order(p.n);
  std::iota(order.begin(), order.end(), index_t{0});
  radix_sort(order, [&](index_t k) { return ~std::uint64_t{0} - p.size[k]; });
  radix_sort(order, [&](index_t k) { return home[k]; });
  return order;
}


}  // namespace unimem::detail::placement

// Exact layouts for two-sided and equal-size structures (see structured.hpp).
#include "detail/placement/structured.hpp"

#include <functional>
#include <queue>
#include <utility>

#include "detail/size_math.hpp"

namespace unimem::detail::placement {

std::vector<std::size_t> two_sided(const problem& p, std::size_t capacity) {
  if (p.max_live_count > 2 || p.n == 0) return {};
  std::vector<std::size_t> off(p.n);
  std::vector<char> top(p.n, 0);
  // In order of start, the only tensor that can still be live when k starts is the earlier one
  // that ends last; k takes the other side.
  index_t last = p.n;
  for (index_t k = 0; k < p.n; ++k) {
    const bool meets = last != p.n && p.e[last] >= p.s[k];
    top[k] = meets ? static_cast<char>(!top[last]) : 0;
    if (top[k]) {
      if (p.size[k] > capacity) return {};
      off[k] = (capacity - p.size[k]) & ~(p.align[k] - 1);
    } else {
      off[k] = 0;
    }
    if (meets) {
      const index_t lo = top[k] ? last : k, hi = top[k] ? k : last;
      if (off[lo] + p.size[lo] > off[hi]) return {};  // padding made the pair collide
    }
    if (last == p.n || p.e[k] >= p.e[last]) last = k;
  }
  return off;
}

std::vector<std::size_t> equal_size_slots(const problem& p) {
  if (p.n == 0) return {};
  for (index_t k = 1; k < p.n; ++k) {
    if (p.size[k] != p.size[0] || p.align[k] != p.align[0]) return {};
  }
  const std::size_t slot = align_up(p.size[0], p.align[0]);
  std::vector<std::size_t> off(p.n);
  // Live tensors by last section; free slots smallest first.
  using entry = std::pair<index_t, std::size_t>;
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> live;
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<std::size_t>> free;
  std::size_t slots = 0;
  for (index_t k = 0; k < p.n; ++k) {
    while (!live.empty() && live.top().first < p.s[k]) {
      free.push(live.top().second);
      live.pop();
    }
    std::size_t s = slots;
    if (!free.empty()) {
      s = free.top();
      free.pop();
    } else {
      ++slots;
    }
    off[k] = s * slot;
    live.emplace(p.e[k], s);
  }
  return off;
}

}  // namespace unimem::detail::placement

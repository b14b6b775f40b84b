// Internal: the skyline over sections (highest end placed so far at each section). Not installed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

/// Range "raise to at least v" and range maximum over sections: a bottom-up segment tree whose
/// tags are never pushed down (max is idempotent), so both operations are two walks to the root.
class skyline {
 public:
  explicit skyline(std::size_t n) {
    while (leaves_ < n) leaves_ <<= 1;
    max_.assign(2 * leaves_, 0);
    tag_.assign(2 * leaves_, 0);
  }

  void raise(index_t a, index_t b, std::size_t v) {
    for (std::size_t l = a + leaves_, r = b + leaves_ + 1; l < r; l >>= 1, r >>= 1) {
      if (l & 1) apply(l++, v);
      if (r & 1) apply(--r, v);
    }
    pull(a + leaves_);
    pull(b + leaves_);
  }

  std::size_t max(index_t a, index_t b) const {
    std::size_t m = 0;
    for (std::size_t l = a + leaves_, r = b + leaves_ + 1; l < r; l >>= 1, r >>= 1) {
      if (l & 1) m = std::max(m, max_[l++]);
      if (r & 1) m = std::max(m, max_[--r]);
    }
    // Every node above a chosen one that reaches outside [a, b] holds leaf a or leaf b.
    for (std::size_t v = (a + leaves_) >> 1; v >= 1; v >>= 1) m = std::max(m, tag_[v]);
    for (std::size_t v = (b + leaves_) >> 1; v >= 1; v >>= 1) m = std::max(m, tag_[v]);
    return m;
  }

 private:
  void apply(std::size_t v, std::size_t val) {
    max_[v] = std::max(max_[v], val);
    tag_[v] = std::max(tag_[v], val);
  }
  void pull(std::size_t leaf) {
    for (std::size_t v = leaf >> 1; v >= 1; v >>= 1) max_[v] = std::max({max_[2 * v], max_[2 * v + 1], tag_[v]});
  }
  std::size_t leaves_ = 1;
  std::vector<std::size_t> max_, tag_;
};

}  // namespace unimem::detail::placement

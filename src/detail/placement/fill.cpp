// Bottom-left fill (see fill.hpp).
#include "detail/placement/fill.hpp"

#include <algorithm>
#include <cstdint>
#include <queue>
#include <limits>

#include "detail/size_math.hpp"

namespace unimem::detail::placement {
namespace {

constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

/// The skyline as runs of sections at one height: a doubly linked list indexed by each run's
/// first section, and a heap of (height, first section) whose stale entries are skipped.
class runs {
 public:
  explicit runs(std::size_t n) : end_(n), height_(n, 0), prev_(n, none), next_(n, none), stamp_(n, 0) {
    end_[0] = n - 1;
    push(0);
  }

  /// The lowest run, leftmost among equals: its first section.
  std::size_t lowest() {
    while (true) {
      const entry e = heap_.top();
      if (e.stamp == stamp_[e.first]) return e.first;
      heap_.pop();
    }
  }
  std::size_t last(std::size_t run) const { return end_[run]; }
  std::size_t height(std::size_t run) const { return height_[run]; }
  std::size_t before(std::size_t run) const { return prev_[run]; }
  std::size_t after(std::size_t run) const { return next_[run]; }

  /// Sections [a, b] of the run starting at `run` (which holds them) rise to `h`.
  void raise(std::size_t run, std::size_t a, std::size_t b, std::size_t h) {
    const std::size_t run_end = end_[run], run_h = height_[run];
    std::size_t mid = run;
    if (a > run) {  // the part before keeps its height and its first section: its heap entry holds
      end_[run] = a - 1;
      link_after(run, a);
      mid = a;
    }
    end_[mid] = b;
    height_[mid] = h;
    if (b < run_end) {  // so does the part after
      link_after(mid, b + 1);
      end_[b + 1] = run_end;
      height_[b + 1] = run_h;
      touch(b + 1);
    }
    // Neighbours at the same height join it.
    if (next_[mid] != none && height_[next_[mid]] == h) absorb(mid, next_[mid]);
    if (prev_[mid] != none && height_[prev_[mid]] == h) {
      const std::size_t left = prev_[mid];
      absorb(left, mid);
      mid = left;
    }
    touch(mid);
  }

 private:
  struct entry {
    std::size_t height;
    std::uint32_t first, stamp;
    bool operator<(const entry& o) const { return height != o.height ? height > o.height : first > o.first; }
  };

  void link_after(std::size_t left, std::size_t run) {
    next_[run] = next_[left];
    prev_[run] = left;
    if (next_[left] != none) prev_[next_[left]] = run;
    next_[left] = run;
  }
  void absorb(std::size_t left, std::size_t right) {  // right joins left
    end_[left] = end_[right];
    next_[left] = next_[right];
    if (next_[right] != none) prev_[next_[right]] = left;
    ++stamp_[right];  // its heap entries are stale now
  }
  void touch(std::size_t run) {
    ++stamp_[run];
    push(run);
  }
  void push(std::size_t run) { heap_.push({height_[run], static_cast<std::uint32_t>(run), stamp_[run]}); }

  std::vector<std::size_t> end_, height_, prev_, next_;
  std::vector<std::uint32_t> stamp_;
  std::priority_queue<entry> heap_;
};

/// Over positions of the fill order: the last section of each unplaced tensor (placed: none),
/// and the first position in a range whose value is at most a bound.
class last_section_tree {
 public:
  explicit last_section_tree(const std::vector<index_t>& values) {
    while (leaves_ < values.size()) leaves_ <<= 1;
    min_.assign(2 * leaves_, empty);
    std::copy(values.begin(), values.end(), min_.begin() + static_cast<std::ptrdiff_t>(leaves_));
    for (std::size_t v = leaves_ - 1; v >= 1; --v) min_[v] = std::min(min_[2 * v], min_[2 * v + 1]);
  }
  void erase(std::size_t i) {
    std::size_t v = leaves_ + i;
    min_[v] = empty;
    for (v >>= 1; v >= 1 && min_[v] != std::min(min_[2 * v], min_[2 * v + 1]); v >>= 1) {
      min_[v] = std::min(min_[2 * v], min_[2 * v + 1]);
    }
  }
  /// First position in [from, to) with value <= bound, or none.
  std::size_t first_at_most(std::size_t from, std::size_t to, index_t bound) const {
    if (from >= to) return none;
    std::size_t v = leaves_ + from;
    if (min_[v] <= bound) return from;
    // Climb to the next subtree on the right that holds a small enough value, unless that
    // subtree starts at or beyond `to`.
    std::size_t width = 1;
    while (true) {
      while (v & 1) {
        v >>= 1;
        width <<= 1;
        if (v <= 1) return none;
      }
      ++v;
      if ((v * width) - leaves_ >= to) return none;
      if (min_[v] <= bound) break;
    }
    while (v < leaves_) v = min_[2 * v] <= bound ? 2 * v : 2 * v + 1;
    const std::size_t i = v - leaves_;
    return i < to ? i : none;
  }

 private:
  static constexpr index_t empty = ~index_t{0};
  std::size_t leaves_ = 1;
  std::vector<index_t> min_;
};

}  // namespace

std::vector<std::size_t> bottom_left_fill(const problem& p) {
  std::vector<std::size_t> off(p.n, 0);
  if (p.n == 0) return off;
  // Fill order: by start, then longest, then largest (the problem is already by start).
  std::vector<index_t> order(p.n);
  for (index_t k = 0; k < p.n; ++k) order[k] = k;
  radix_sort(order, [&](index_t k) { return ~std::uint64_t{0} - p.size[k]; });
  radix_sort(order, [&](index_t k) { return ~std::uint64_t{0} - p.e[k]; });
  radix_sort(order, [&](index_t k) { return p.s[k]; });
  std::vector<index_t> last(p.n);
  for (std::size_t i = 0; i < p.n; ++i) last[i] = p.e[order[i]];
  last_section_tree unplaced_tree(last);
  runs sky(p.sections);
  for (std::size_t left = p.n; left > 0;) {
    const std::size_t l = sky.lowest(), r = sky.last(l), h = sky.height(l);
    // The fill order groups tensors by first section, so positions up to the group of r hold
    // exactly the tensors that start inside the valley.
    const std::size_t i = unplaced_tree.first_at_most(p.section_begin[l], p.section_begin[r + 1], static_cast<index_t>(r));
    if (i != none) {
      const index_t k = order[i];
      off[k] = align_up(h, p.align[k]);
      sky.raise(l, p.s[k], p.e[k], off[k] + p.size[k]);
      unplaced_tree.erase(i);
      --left;
      continue;
    }
    // Nothing fits in the valley: raise it to its lower neighbour.
    const std::size_t lh = sky.before(l) != none ? sky.height(sky.before(l)) : none;
    const std::size_t rh = sky.after(l) != none ? sky.height(sky.after(l)) : none;
    sky.raise(l, l, r, std::min(lh, rh));
  }
  return off;
}

}  // namespace unimem::detail::placement

// Recombination of tensors into rectangles (see merge.hpp).
#include "detail/placement/merge.hpp"

#include <algorithm>
#include <cstdint>

#include "detail/size_math.hpp"

namespace unimem::detail::placement {
namespace {

class recombiner {
 public:
  explicit recombiner(const problem& p)
      : p_(p), parent_(p.n), offset_(p.n, 0), size_(p.size), align_(p.align), s_(p.s), e_(p.e),
        first_(p.first), last_(p.last), alive_(p.n, 1), ends_(p.n, p.sections), starts_(p.n, p.sections) {
    for (index_t k = 0; k < p.n; ++k) parent_[k] = k;
  }

  recombination run() {
    for (index_t k = 0; k < p_.n; ++k) link(k);
    while (!queue_.empty()) {
      const index_t k = queue_.back();
      queue_.pop_back();
      if (alive_[k]) examine(k);
    }
    recombination out;
    if (merges_ == 0) return out;
    std::vector<index_t> group(p_.n, 0);
    for (index_t k = 0; k < p_.n; ++k) {
      if (parent_[k] == k) {
        group[k] = static_cast<index_t>(out.groups.size());
        out.groups.push_back({size_[k], first_[k], last_[k], align_[k]});
      }
    }
    out.group_of.resize(p_.n);
    out.within.resize(p_.n);
    for (index_t k = 0; k < p_.n; ++k) {
      const index_t r = find(k);
      out.group_of[k] = group[r];
      out.within[k] = offset_[k];
    }
    return out;
  }

 private:
  static constexpr index_t nil = ~index_t{0};
  // Rules look at most this many rectangles ending (starting) at one section: where more meet,
  // the structure is not a layout by levels and the scans would cost too much.
  static constexpr int scan_limit = 64;

  /// The alive rectangles ending (or starting) at each section, as intrusive lists.
  struct lists {
    lists(std::size_t n, std::size_t sections) : head(sections, nil), next(n, nil), prev(n, nil), count(sections, 0) {}
    void add(index_t k, index_t t) {
      next[k] = head[t];
      prev[k] = nil;
      if (head[t] != nil) prev[head[t]] = k;
      head[t] = k;
      ++count[t];
    }
    void remove(index_t k, index_t t) {
      if (prev[k] != nil) next[prev[k]] = next[k];
      else head[t] = next[k];
      if (next[k] != nil) prev[next[k]] = prev[k];
      --count[t];
    }
    std::vector<index_t> head, next, prev;
    std::vector<std::uint32_t> count;
  };

  /// The only rectangle of k's size and alignment in list t (k excluded when `other_than`), or nil
  /// when there is none or more than one.
  index_t only_match(const lists& l, index_t t, index_t k, bool other_than) const {
    if (l.count[t] > scan_limit) return nil;
    index_t match = nil;
    for (index_t x = l.head[t]; x != nil; x = l.next[x]) {
      if ((other_than && x == k) || size_[x] != size_[k] || align_[x] != align_[k]) continue;
      if (match != nil) return nil;
      match = x;
    }
    return match;
  }

  /// Applies the rules to rectangle k: a rectangle with its lifetime is stacked on it (a cut in
  /// bytes undone); the only rectangle of its size ending right before it, if it is the only one
  /// of that size starting there, hands it its place, and the same forward (cuts in time).
  void examine(index_t k) {
    if (starts_.count[s_[k]] <= scan_limit) {
      for (index_t x = starts_.head[s_[k]]; x != nil; x = starts_.next[x]) {
        if (x != k && e_[x] == e_[k]) {
          stack(x, k);
          return;
        }
      }
    }
    if (e_[k] + 1 < p_.sections && only_match(ends_, e_[k], k, false) == k) {
      const index_t y = only_match(starts_, e_[k] + 1, k, true);
      if (y != nil) {
        chain(k, y);
        return;
      }
    }
    if (s_[k] > 0 && only_match(starts_, s_[k], k, false) == k) {
      const index_t x = only_match(ends_, s_[k] - 1, k, true);
      if (x != nil) chain(x, k);
    }
  }

  void chain(index_t x, index_t y) {
    unlink(x);
    unlink(y);
    attach(y, x, 0);
    e_[x] = e_[y];
    last_[x] = last_[y];
    link(x);
  }

  void stack(index_t base, index_t k) {
    unlink(base);
    unlink(k);
    const std::size_t at = align_up(size_[base], align_[k]);
    attach(k, base, at);
    size_[base] = at + size_[k];
    align_[base] = std::max(align_[base], align_[k]);
    first_[base] = std::min(first_[base], first_[k]);
    last_[base] = std::max(last_[base], last_[k]);
    link(base);
  }

  /// Root of k, compressing the path; offset_[k] becomes k's offset inside its root.
  index_t find(index_t k) {
    index_t r = k;
    std::size_t total = 0;
    while (parent_[r] != r) {
      total += offset_[r];
      r = parent_[r];
    }
    while (parent_[k] != k) {  // second pass: every node on the path points at the root
      const index_t up = parent_[k];
      const std::size_t own = offset_[k];
      parent_[k] = r;
      offset_[k] = total;
      total -= own;
      k = up;
    }
    return r;
  }

  void attach(index_t child, index_t root, std::size_t at) {
    parent_[child] = root;
    offset_[child] = at;
    alive_[child] = 0;
    ++merges_;
  }

  void link(index_t k) {
    ends_.add(k, e_[k]);
    starts_.add(k, s_[k]);
    // k, and the rectangles ending right before it, may match now.
    queue_.push_back(k);
    if (s_[k] > 0 && ends_.count[s_[k] - 1] <= scan_limit) {
      for (index_t x = ends_.head[s_[k] - 1]; x != nil; x = ends_.next[x]) queue_.push_back(x);
    }
  }

  void unlink(index_t k) {
    ends_.remove(k, e_[k]);
    starts_.remove(k, s_[k]);
  }

  const problem& p_;
  std::vector<index_t> parent_;
  std::vector<std::size_t> offset_;
  std::vector<std::size_t> size_, align_;
  std::vector<index_t> s_, e_;
  std::vector<std::size_t> first_, last_;
  std::vector<char> alive_;
  lists ends_, starts_;
  std::vector<index_t> queue_;
  std::size_t merges_ = 0;
};

}  // namespace

recombination recombine(const problem& p) { return recombiner(p).run(); }

}  // namespace unimem::detail::placement

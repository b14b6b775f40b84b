// Internal: the one two-level segregated-fit index (Masmano et al., "TLSF: a new dynamic memory
// allocator for real-time systems", 2004), used by the pool's general allocator over its block
// descriptors (pools/pool_detail.hpp) and by the planner's sweep over offsets
// (detail/placement/sweep.cpp). Not installed.
//
// Free nodes sit in doubly linked lists by size class, 2^sl_log2 classes per power of two, and
// two bitmap levels find the first non-empty class at or above a size in O(1). The index owns no
// node: a Links policy says what a node is (a pointer, an index), where its size and its two
// list links live, and in what unit sizes are counted. Everything is inline and resolved at
// compile time, so a pointer-based policy costs exactly what a hand-written index would (the
// pool's find/insert/remove are on its ~40 ns path).
//
// Links requirements (`l` a Links, `n` a node):
//   using node = ...;                     a cheap handle, copyable, comparable with ==
//   static constexpr unsigned unit_shift  sizes are counted in units of 2^unit_shift bytes
//   node l.nil() const                    the handle of no node
//   std::size_t l.size(n) const           bytes
//   node& l.free_prev(n), l.free_next(n)  the list links (const overloads returning node too)
#pragma once

#include <cstddef>
#include <cstdint>

namespace unimem::detail {

template <class Links, unsigned SlLog2 = 5>
class basic_tlsf_index : private Links {
 public:
  using node = typename Links::node;

  explicit basic_tlsf_index(Links links = Links{}) noexcept : Links(links) {
    for (auto& row : heads_) {
      for (auto& h : row) h = nil();
    }
  }

  bool empty() const noexcept { return count_ == 0; }
  std::size_t size() const noexcept { return count_; }
  const Links& links() const noexcept { return *this; }
  Links& links() noexcept { return *this; }

  void insert(node b) noexcept {
    const auto [fl, sl] = mapping(Links::size(b) >> Links::unit_shift);
    node& head = heads_[fl][sl];
    Links::free_prev(b) = nil();
    Links::free_next(b) = head;
    if (head != nil()) Links::free_prev(head) = b;
    head = b;
    fl_bitmap_ |= std::uint64_t{1} << fl;
    sl_bitmap_[fl] |= 1u << sl;
    ++count_;
  }

  void remove(node b) noexcept {
    const auto [fl, sl] = mapping(Links::size(b) >> Links::unit_shift);
    const node prev = Links::free_prev(b), next = Links::free_next(b);
    if (prev != nil()) {
      Links::free_next(prev) = next;
    } else {
      heads_[fl][sl] = next;
      if (next == nil()) {
        sl_bitmap_[fl] &= ~(1u << sl);
        if (sl_bitmap_[fl] == 0) fl_bitmap_ &= ~(std::uint64_t{1} << fl);
      }
    }
    if (next != nil()) Links::free_prev(next) = prev;
    Links::free_prev(b) = Links::free_next(b) = nil();
    --count_;
  }

  /// A node for a request of `bytes`, or nil. Looks at a few nodes of the request's own class
  /// first (they may fit and are the tightest) and keeps the best that `fits`; failing that,
  /// takes the best of the first few nodes of the next non-empty class, every node of which holds
  /// more than `bytes`. `better(a, b)` orders candidates.
  template <class Fits, class Better>
  node find(std::size_t bytes, Fits&& fits, Better&& better) const noexcept {
    const auto [fl, sl] = mapping(bytes >> Links::unit_shift);
    const node own = best_fitting(fl, sl, fits, better);
    return own != nil() ? own : first_above(fl, sl, better);
  }

  /// As find(bytes, ...), but the classes above the own class start above `guaranteed`'s class
  /// (>= bytes): for requests that need more than `bytes` in some nodes, e.g. for alignment.
  template <class Fits, class Better>
  node find(std::size_t bytes, std::size_t guaranteed, Fits&& fits, Better&& better) const noexcept {
    const auto [fl, sl] = mapping(bytes >> Links::unit_shift);
    const node own = best_fitting(fl, sl, fits, better);
    if (own != nil()) return own;
    const auto [gfl, gsl] = mapping(guaranteed >> Links::unit_shift);
    return first_above(gfl, gsl, better);
  }

  /// Calls f(node) for every node; f may remove the node it is given.
  template <class F>
  void for_each(F&& f) const {
    for (std::uint64_t fls = fl_bitmap_; fls != 0; fls &= fls - 1) {
      const int fl = __builtin_ctzll(fls);
      for (std::uint32_t sls = sl_bitmap_[fl]; sls != 0; sls &= sls - 1) {
        for (node b = heads_[fl][__builtin_ctz(sls)]; b != nil();) {
          const node next = Links::free_next(b);
          f(b);
          b = next;
        }
      }
    }
  }

 private:
  static constexpr unsigned sl_log2 = SlLog2;
  static constexpr unsigned sl_count = 1u << sl_log2;
  static constexpr unsigned fl_count = 64 - Links::unit_shift - sl_log2 + 1;
  static constexpr int scan = 8;  // nodes looked at per list: closer to best fit, bounded walk
  static_assert(sl_log2 <= 5, "second-level bitmaps are 32 bits");

  struct index_pair {
    unsigned fl;
    unsigned sl;
  };

  node nil() const noexcept { return Links::nil(); }

  /// Sizes below sl_count units get one class each; above, class (fl, sl) holds sizes whose top
  /// bit is fl + sl_log2 - 1 and whose next sl_log2 bits are sl.
  static index_pair mapping(std::size_t units) noexcept {
    if (units < sl_count) return {0, static_cast<unsigned>(units)};
    const unsigned msb = 63u - static_cast<unsigned>(__builtin_clzll(units));
    return {msb - sl_log2 + 1, static_cast<unsigned>((units >> (msb - sl_log2)) - sl_count)};
  }

  /// The best node that fits among the first few of class (fl, sl), or nil.
  template <class Fits, class Better>
  node best_fitting(unsigned fl, unsigned sl, Fits& fits, Better& better) const noexcept {
    node best = nil();
    int budget = scan;
    for (node b = heads_[fl][sl]; b != nil() && budget > 0; b = Links::free_next(b), --budget) {
      if (fits(b) && (best == nil() || better(b, best))) best = b;
    }
    return best;
  }

  /// The best of the first few nodes of the first non-empty class above (fl, sl), or nil.
  template <class Better>
  node first_above(unsigned fl, unsigned sl, Better& better) const noexcept {
    const std::uint32_t above = sl + 1 < sl_count ? sl_bitmap_[fl] & (~0u << (sl + 1)) : 0u;
    if (above != 0) return best_of(heads_[fl][__builtin_ctz(above)], better);
    const std::uint64_t fl_above = fl + 1 < 64 ? fl_bitmap_ & (~std::uint64_t{0} << (fl + 1)) : 0;
    if (fl_above == 0) return nil();
    const int f = __builtin_ctzll(fl_above);
    return best_of(heads_[f][__builtin_ctz(sl_bitmap_[f])], better);
  }

  /// The best of the first few nodes of a list (all of which fit).
  template <class Better>
  node best_of(node head, Better& better) const noexcept {
    node best = head;
    int budget = scan;
    for (node b = Links::free_next(head); b != nil() && --budget > 0; b = Links::free_next(b)) {
      if (better(b, best)) best = b;
    }
    return best;
  }

  std::uint64_t fl_bitmap_ = 0;
  std::uint32_t sl_bitmap_[fl_count] = {};
  node heads_[fl_count][sl_count];
  std::size_t count_ = 0;
};

}  // namespace unimem::detail

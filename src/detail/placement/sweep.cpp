// Placements without a conflict graph: a time sweep through a TLSF allocator over offsets, and
// greedy placement of the largest tensors with the rest on a skyline.
#include "detail/placement/sweep.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "detail/placement/heuristics.hpp"
#include "detail/size_math.hpp"
#include "detail/tlsf_index.hpp"

namespace unimem::detail::placement {
namespace {

/// An allocator over offsets: free ranges in the TLSF index (detail/tlsf_index.hpp), neighbours
/// in address order for coalescing. Every operation is O(1) whatever the number of live ranges.
class segregated_fit {
 public:
  using node_id = std::uint32_t;

  segregated_fit() = default;
  segregated_fit(const segregated_fit&) = delete;  // the index points at nodes_
  segregated_fit& operator=(const segregated_fit&) = delete;

  /// Reserves `size` bytes at a multiple of `align`; returns the range's node.
  node_id allocate(std::size_t size, std::size_t align) {
    node_id b = free_.find(
        size, size + align - 1,
        [&](node_id n) { return nodes_[n].size >= size + (align_up(nodes_[n].offset, align) - nodes_[n].offset); },
        [&](node_id x, node_id y) {
          return nodes_[x].size != nodes_[y].size ? nodes_[x].size < nodes_[y].size : nodes_[x].offset < nodes_[y].offset;
        });
    if (b == nil) return allocate_at_top(size, align);
    unlink_free(b);
    const std::size_t start = align_up(nodes_[b].offset, align);
    if (start > nodes_[b].offset) {  // the alignment gap stays free, in front
      const node_id gap = make_node(nodes_[b].offset, start - nodes_[b].offset);
      insert_before(gap, b);
      nodes_[b].size -= start - nodes_[b].offset;
      nodes_[b].offset = start;
      link_free(gap);
    }
    if (nodes_[b].size > size) {  // the rest stays free, behind
      const node_id rest = make_node(start + size, nodes_[b].size - size);
      insert_after(rest, b);
      nodes_[b].size = size;
      link_free(rest);
    }
    return b;
  }

  void release(node_id b) {
    const node_id next = nodes_[b].next;
    if (next != nil && nodes_[next].free) {
      unlink_free(next);
      nodes_[b].size += nodes_[next].size;
      unlink_address(next);
    }
    const node_id prev = nodes_[b].prev;
    if (prev != nil && nodes_[prev].free) {
      unlink_free(prev);
      nodes_[prev].size += nodes_[b].size;
      unlink_address(b);
      b = prev;
    }
    if (b == last_) {  // the arena's end: give it back to the top so the arena can shrink
      top_ = nodes_[b].offset;
      unlink_address(b);
      return;
    }
    link_free(b);
  }

  std::size_t offset(node_id b) const { return nodes_[b].offset; }

 private:
  static constexpr node_id nil = std::numeric_limits<node_id>::max();

  struct node {
    std::size_t offset = 0, size = 0;
    node_id prev = nil, next = nil;            // address order
    node_id free_prev = nil, free_next = nil;  // TLSF list
    bool free = false;
  };

  /// The TLSF index reaches the nodes through the vector, which grows.
  struct links {
    using node = node_id;
    static constexpr unsigned unit_shift = 0;
    const std::vector<segregated_fit::node>* nodes = nullptr;
    static constexpr node_id nil() noexcept { return segregated_fit::nil; }
    std::size_t size(node_id n) const noexcept { return (*nodes)[n].size; }
    node_id& free_prev(node_id n) const noexcept { return const_cast<node_id&>((*nodes)[n].free_prev); }
    node_id& free_next(node_id n) const noexcept { return const_cast<node_id&>((*nodes)[n].free_next); }
  };

  node_id make_node(std::size_t offset, std::size_t size) {
    node_id id;
    if (!recycled_.empty()) {
      id = recycled_.back();
      recycled_.pop_back();
      nodes_[id] = node{};
    } else {
      id = static_cast<node_id>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[id].offset = offset;
    nodes_[id].size = size;
    return id;
  }

  void insert_before(node_id n, node_id at) {
    nodes_[n].next = at;
    nodes_[n].prev = nodes_[at].prev;
    if (nodes_[at].prev != nil) nodes_[nodes_[at].prev].next = n;
    nodes_[at].prev = n;
  }
  void insert_after(node_id n, node_id at) {
    nodes_[n].prev = at;
    nodes_[n].next = nodes_[at].next;
    if (nodes_[at].next != nil) nodes_[nodes_[at].next].prev = n;
    nodes_[at].next = n;
    if (last_ == at) last_ = n;
  }
  void unlink_address(node_id n) {
    const node_id p = nodes_[n].prev, q = nodes_[n].next;
    if (p != nil) nodes_[p].next = q;
    if (q != nil) nodes_[q].prev = p;
    if (last_ == n) last_ = p;
    recycled_.push_back(n);
  }

  void link_free(node_id n) {
    nodes_[n].free = true;
    free_.insert(n);
  }
  void unlink_free(node_id n) {
    nodes_[n].free = false;
    free_.remove(n);
  }

  node_id allocate_at_top(std::size_t size, std::size_t align) {
    const std::size_t start = align_up(top_, align);
    if (start > top_) {
      const node_id gap = make_node(top_, start - top_);
      append(gap);
      link_free(gap);
    }
    const node_id n = make_node(start, size);
    append(n);
    top_ = start + size;
    return n;
  }
  void append(node_id n) {
    nodes_[n].prev = last_;
    if (last_ != nil) nodes_[last_].next = n;
    last_ = n;
  }

  std::vector<node> nodes_;
  std::vector<node_id> recycled_;
  node_id last_ = nil;  // the range ending at top_ (never free: freed ranges there go to the top)
  std::size_t top_ = 0;
  basic_tlsf_index<links> free_{links{&nodes_}};
};


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


}  // namespace

std::vector<std::size_t> sweep_best_fit(const problem& p) {
  std::vector<index_t> order(p.n);
  std::iota(order.begin(), order.end(), index_t{0});
  radix_sort(order, [&](index_t k) { return ~std::uint64_t{0} - p.size[k]; });
  radix_sort(order, [&](index_t k) { return p.s[k]; });
  std::vector<index_t> by_end(p.n);
  std::iota(by_end.begin(), by_end.end(), index_t{0});
  radix_sort(by_end, [&](index_t k) { return p.e[k]; });
  segregated_fit heap;
  std::vector<segregated_fit::node_id> node(p.n);
  std::vector<std::size_t> off(p.n);
  std::size_t freed = 0;
  for (index_t k : order) {
    while (freed < by_end.size() && p.e[by_end[freed]] < p.s[k]) heap.release(node[by_end[freed++]]);
    node[k] = heap.allocate(p.size[k], p.align[k]);
    off[k] = heap.offset(node[k]);  // read now: a released node is reused
  }
  return off;
}


/// For inputs too large for one greedy run within `budget`: greedy-by-size (and settling) for
/// the largest tensors, as many as keep their own conflict graph within the budget, then every
/// other tensor, largest first, on top of the skyline of what is placed during its lifetime.
/// The small tensors reuse no holes, but they are small; the large ones, which decide the arena,
/// get the full treatment.
std::vector<std::size_t> greedy_on_largest(const std::vector<lifetime>& tensors, const problem& p,
                                           const std::vector<index_t>& by_size, std::uint64_t budget) {
  // The largest m whose greedy run and settling pass, each m + 2 x (pairs among the m largest),
  // fit the budget. Adding tensors largest first, the pairs a newcomer [s, e] makes are the
  // added tensors starting at or before e minus those ending before s (Fenwick trees on sections).
  std::vector<std::uint32_t> starts_at(p.sections + 1, 0), ends_at(p.sections + 1, 0);
  auto add = [](std::vector<std::uint32_t>& tree, std::size_t i) {
    for (++i; i < tree.size(); i += i & (~i + 1)) ++tree[i];
  };
  auto prefix = [](const std::vector<std::uint32_t>& tree, std::size_t i) {  // entries at < i
    std::uint64_t sum = 0;
    for (; i > 0; i -= i & (~i + 1)) sum += tree[i];
    return sum;
  };
  std::uint64_t pairs = 0;
  std::size_t lo = 0;
  for (; lo < p.n; ++lo) {
    const index_t k = by_size[lo];
    const std::uint64_t more = prefix(starts_at, p.e[k] + 1) - prefix(ends_at, p.s[k]);
    if (2 * (lo + 1 + 2 * (pairs + more)) > budget) break;
    pairs += more;
    add(starts_at, p.s[k]);
    add(ends_at, p.e[k]);
  }
  const std::size_t m = lo;

  std::vector<std::size_t> off(p.n, 0);
  skyline sky(p.sections);
  if (m > 0) {
    std::vector<lifetime> largest;
    largest.reserve(m);
    for (std::size_t r = 0; r < m; ++r) largest.push_back(tensors[p.original[by_size[r]]]);
    problem q = make_problem(largest);
    build_conflicts(q);
    std::vector<std::size_t> qoff = greedy(q, order_by(q, order_key::size), fit::best);
    settle(q, qoff);
    for (index_t i = 0; i < q.n; ++i) {
      const index_t k = by_size[q.original[i]];
      off[k] = qoff[i];
      sky.raise(p.s[k], p.e[k], off[k] + p.size[k]);
    }
  }
  for (std::size_t r = m; r < p.n; ++r) {
    const index_t k = by_size[r];
    if (r + 8 < p.n) {  // random order over the arrays: fetch ahead
      const index_t ahead = by_size[r + 8];
      __builtin_prefetch(&p.s[ahead]);
      __builtin_prefetch(&p.e[ahead]);
      __builtin_prefetch(&p.size[ahead]);
      __builtin_prefetch(&p.align[ahead]);
      __builtin_prefetch(&off[ahead], 1);
    }
    off[k] = align_up(sky.max(p.s[k], p.e[k]), p.align[k]);
    sky.raise(p.s[k], p.e[k], off[k] + p.size[k]);
  }
  return off;
}


}  // namespace unimem::detail::placement

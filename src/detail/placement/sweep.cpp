// The time sweep: the program replayed through a TLSF allocator over offsets (see sweep.hpp).
#include "detail/placement/sweep.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

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


}  // namespace unimem::detail::placement

// Static memory planner: greedy portfolio + bounded canonical search. See include/unimem/planning/planner.hpp
// and docs/planning.md.
#include <unimem/planning/planner.hpp>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "detail/placement/placer.hpp"
#include "detail/size_math.hpp"
#include "detail/tlsf_index.hpp"

namespace unimem::detail::placement {
namespace {

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
  std::vector<index_t> section_begin; // tensors starting in section t: [section_begin[t], section_begin[t+1])
  index_t sections = 0;
  std::size_t lower_bound = 0;
  std::size_t max_alignment = 1;
  std::uint64_t overlap_pairs = 0;
  // Conflict graph (tensors that overlap in time) in CSR form; built on demand.
  std::vector<std::uint64_t> adj_begin;
  std::vector<index_t> adj;

  std::size_t degree(index_t i) const { return static_cast<std::size_t>(adj_begin[i + 1] - adj_begin[i]); }
  const index_t* neighbours(index_t i) const { return adj.data() + adj_begin[i]; }
  index_t duration(index_t i) const { return e[i] - s[i]; }
};

problem make_problem(const std::vector<lifetime>& tensors) {
  problem p;
  std::vector<index_t> ids;
  ids.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    p.max_alignment = std::max(p.max_alignment, tensors[i].alignment);
    if (tensors[i].bytes != 0) ids.push_back(static_cast<index_t>(i));
  }
  radix_sort(ids, [&](index_t i) { return tensors[i].first; });
  p.n = ids.size();
  p.original.assign(ids.begin(), ids.end());
  p.size.resize(p.n);
  p.align.resize(p.n);
  p.s.resize(p.n);
  p.e.resize(p.n);
  std::vector<std::size_t> starts;
  for (std::size_t k = 0; k < p.n; ++k) {
    const auto& t = tensors[ids[k]];
    p.size[k] = t.bytes;
    p.align[k] = t.alignment;
    if (starts.empty() || starts.back() != t.first) {
      starts.push_back(t.first);
      p.section_begin.push_back(static_cast<index_t>(k));
    }
    p.s[k] = static_cast<index_t>(starts.size() - 1);
  }
  p.sections = static_cast<index_t>(starts.size());
  p.section_begin.push_back(static_cast<index_t>(p.n));
  // Last section of each tensor: the last start <= last_op, found by a sweep in order of last_op.
  std::vector<index_t> by_last(p.n);
  std::iota(by_last.begin(), by_last.end(), index_t{0});
  radix_sort(by_last, [&](index_t k) { return tensors[p.original[k]].last; });
  std::size_t sec = 0;
  for (index_t k : by_last) {
    const std::size_t last = tensors[p.original[k]].last;
    while (sec + 1 < starts.size() && starts[sec + 1] <= last) ++sec;
    p.e[k] = static_cast<index_t>(sec);
  }
  // Live bytes and live counts per section with difference arrays.
  std::vector<std::size_t> bytes_diff(p.sections + 1, 0);
  std::vector<std::uint64_t> ending_before(p.sections + 1, 0);
  for (std::size_t k = 0; k < p.n; ++k) {
    bytes_diff[p.s[k]] += p.size[k];
    bytes_diff[p.e[k] + 1] -= p.size[k];  // modular arithmetic: the running sum is exact
    ++ending_before[p.e[k] + 1];
  }
  std::size_t live = 0;
  std::uint64_t started_before = 0, ended_before = 0;
  for (index_t t = 0; t < p.sections; ++t) {
    live += bytes_diff[t];
    p.lower_bound = std::max(p.lower_bound, live);
    ended_before += ending_before[t];
    // Pairs first meeting at section t: a starter with every older live tensor, and starters among
    // themselves.
    const std::uint64_t starting = p.section_begin[t + 1] - p.section_begin[t];
    const std::uint64_t older_live = started_before - ended_before;
    p.overlap_pairs += starting * older_live + starting * (starting - 1) / 2;
    started_before += starting;
  }
  return p;
}

/// Builds the conflict graph by a sweep over sections (two passes: degrees, then fill).
void build_conflicts(problem& p) {
  p.adj_begin.assign(p.n + 1, 0);
  std::vector<std::uint64_t> fill;
  std::vector<index_t> active;
  for (int pass = 0; pass < 2; ++pass) {
    active.clear();
    for (index_t t = 0; t < p.sections; ++t) {
      active.erase(std::remove_if(active.begin(), active.end(), [&](index_t a) { return p.e[a] < t; }),
                   active.end());
      const index_t first = p.section_begin[t], last = p.section_begin[t + 1];
      for (index_t k = first; k < last; ++k) {
        if (pass == 0) {
          p.adj_begin[k + 1] += active.size() + (last - first) - 1;
          for (index_t a : active) ++p.adj_begin[a + 1];
        } else {
          for (index_t a : active) {
            p.adj[fill[k]++] = a;
            p.adj[fill[a]++] = k;
          }
          for (index_t j = k + 1; j < last; ++j) {
            p.adj[fill[k]++] = j;
            p.adj[fill[j]++] = k;
          }
        }
      }
      for (index_t k = first; k < last; ++k) active.push_back(k);
    }
    if (pass == 0) {
      for (index_t k = 0; k < p.n; ++k) p.adj_begin[k + 1] += p.adj_begin[k];
      p.adj.resize(p.adj_begin[p.n]);
      fill.assign(p.adj_begin.begin(), p.adj_begin.end() - 1);
    }
  }
}

std::size_t arena_of(const problem& p, const std::vector<std::size_t>& off) {
  std::size_t a = 0;
  for (std::size_t k = 0; k < p.n; ++k) a = std::max(a, off[k] + p.size[k]);
  return a;
}

enum class fit { best, first };

/// Places tensors in `order`, each at the best-fitting (or lowest) gap left by the already placed
/// tensors it overlaps in time; on top of them when no gap fits.
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

/// Lowers every tensor, in order of offset, onto the highest tensor below it that it overlaps in
/// time (or to 0). Never raises a tensor, so the arena never grows.
void settle(const problem& p, std::vector<std::size_t>& off) {
  std::vector<index_t> order(p.n);
  std::iota(order.begin(), order.end(), index_t{0});
  radix_sort(order, [&](index_t k) { return off[k]; });
  std::vector<char> done(p.n, 0);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const index_t k = order[i];
    if (i + 8 < order.size()) __builtin_prefetch(&p.adj_begin[order[i + 8]]);
    if (i + 4 < order.size()) __builtin_prefetch(p.adj.data() + p.adj_begin[order[i + 4]]);
    std::size_t floor = 0;
    const index_t* nb = p.neighbours(k);
    for (std::size_t x = 0, d = p.degree(k); x < d; ++x) {
      const index_t j = nb[x];
      if (done[j]) floor = std::max(floor, off[j] + p.size[j]);
    }
    off[k] = std::min(off[k], align_up(floor, p.align[k]));
    done[k] = 1;
  }
}

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

/// Time-order sweep that replays the program through segregated_fit, larger tensors first among
/// those starting together: O(n log n) whatever the overlap, so it stands in for greedy-by-size on
/// huge, dense inputs.
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

// ---------------------------------------------------------------------------------------------
// Bounded canonical search (after Moffitt, "MiniMalloc", ASPLOS 2023).
//
// Any plan can be "settled" (see settle()) without growing; in a settled plan sorted by offset,
// each tensor's offset is the highest end among the tensors it overlaps that come before it. The
// search builds plans in that form, tensor by tensor at nondecreasing offsets, each on top of its
// already placed time-neighbours (its "level" lo). At each node only tensors at the lowest level
// L are candidates (MiniMalloc's canonical order); the test suite checks against brute force on
// thousands of small instances that this loses no optimum. Placing a then b at the same level
// when they do not overlap in time gives the same state as b then a, so once a branch has been
// explored its tensor "sleeps" at that level (a sleep set) for its siblings and their subtrees;
// a sleeper must have been raised above L before the search moves above L.
//
// Pruning with capacity C: at section t, rem[t] bytes of unplaced tensors live there all go above
// the tensor just placed (when it covers t) and above L, so end + rem[t] <= C at the sections the
// new tensor covers, and L + max_t rem[t] <= C everywhere; and every tensor must fit above its own
// level. Sizes are padded to each tensor's alignment, which keeps the search exact when all
// tensors share one alignment and makes it a heuristic (still valid) when they differ.
class canonical_search {
 public:
  canonical_search(const problem& p, const std::vector<index_t>& branch_order)
      : p_(p), rank_(p.n), by_rank_(branch_order), lo_(p.n, 0), placed_(p.n, 0),
        off_(p.n, 0), padded_(p.n), rem_(p.sections, 0) {
    for (index_t k = 0; k < p.n; ++k) {
      padded_[k] = align_up(p.size[k], p.align[k]);
      slack_ = std::max(slack_, padded_[k] - p.size[k]);
    }
    for (std::size_t r = 0; r < p.n; ++r) rank_[by_rank_[r]] = static_cast<index_t>(r);
    leaves_ = 1;
    while (leaves_ < p.n) leaves_ <<= 1;
    lo_tree_.assign(2 * leaves_, infinite);
    for (std::size_t r = 0; r < p.n; ++r) lo_tree_[leaves_ + r] = 0;
    for (std::size_t v = leaves_ - 1; v >= 1; --v) lo_tree_[v] = std::min(lo_tree_[2 * v], lo_tree_[2 * v + 1]);
    sec_leaves_ = 1;
    while (sec_leaves_ < p.sections) sec_leaves_ <<= 1;
    rem_max_.assign(2 * sec_leaves_, 0);
    rem_add_.assign(2 * sec_leaves_, 0);
    for (index_t k = 0; k < p.n; ++k) {
      for (index_t t = p.s[k]; t <= p.e[k]; ++t) rem_[t] += padded_[k];
    }
    for (index_t t = 0; t < p.sections; ++t) rem_max_[sec_leaves_ + t] = static_cast<std::int64_t>(rem_[t]);
    for (std::size_t v = sec_leaves_ - 1; v >= 1; --v) rem_max_[v] = std::max(rem_max_[2 * v], rem_max_[2 * v + 1]);
  }

  /// Searches for plans with arena <= capacity, keeping the smallest; stops at `target` or when
  /// `node_budget` placements have been tried. Returns true when a plan was found.
  /// Resumes where the previous run stopped (the capacity only ever drops, so what was pruned
  /// stays pruned).
  bool run(std::size_t capacity, std::size_t target, std::size_t node_budget) {
    capacity_ = std::min(capacity_, capacity);
    target_ = target;
    budget_ = node_budget;
    found_ = false;
    dfs();
    return found_;
  }

  const std::vector<std::size_t>& best() const { return best_off_; }
  std::size_t best_arena() const { return best_arena_; }
  std::size_t nodes() const { return nodes_; }
  /// True when the whole canonical space has been searched: no plan below the capacity exists.
  bool finished() const { return started_ && stack_.empty(); }

 private:
  static constexpr std::size_t infinite = std::numeric_limits<std::size_t>::max();

  struct undo_entry {
    enum kind_t : std::uint8_t { lo, tree } kind;
    index_t index;
    std::size_t value;
  };

  struct frame {
    std::size_t level;
    std::size_t next_rank;      // branch candidates are tried in rank order
    std::size_t undo_mark;      // undo log size before the current child's placement
    std::size_t arena;          // arena of the placed tensors at this node
    std::vector<index_t> slept; // tensors this frame put to sleep
    index_t child = 0;
    bool child_active = false;
  };

  void set_tree(index_t k, std::size_t v, bool log) {
    std::size_t leaf = leaves_ + rank_[k];
    if (log) undo_.push_back({undo_entry::tree, k, lo_tree_[leaf]});
    lo_tree_[leaf] = v;
    for (leaf >>= 1; leaf >= 1; leaf >>= 1) lo_tree_[leaf] = std::min(lo_tree_[2 * leaf], lo_tree_[2 * leaf + 1]);
  }

  /// First rank >= from whose tree value is <= level, or n.
  std::size_t find_at_level(std::size_t from, std::size_t level) const {
    if (from >= p_.n) return p_.n;
    // Walk up from the leaf, then down into the first subtree that has a value <= level.
    std::size_t v = leaves_ + from;
    if (lo_tree_[v] <= level) return from;
    while (true) {
      // Move to the next subtree to the right.
      while (v & 1) {
        v >>= 1;
        if (v == 0) return p_.n;
      }
      ++v;
      if (lo_tree_[v] <= level) break;
    }
    while (v < leaves_) v = lo_tree_[2 * v] <= level ? 2 * v : 2 * v + 1;
    return std::min(v - leaves_, p_.n);
  }

  void rem_add(std::size_t v, std::size_t l, std::size_t r, index_t a, index_t b, std::int64_t d) {
    if (b < l || r < a) return;
    if (a <= l && r <= b) {
      rem_max_[v] += d;
      rem_add_[v] += d;
      return;
    }
    const std::size_t m = (l + r) / 2;
    rem_add(2 * v, l, m, a, b, d);
    rem_add(2 * v + 1, m + 1, r, a, b, d);
    rem_max_[v] = std::max(rem_max_[2 * v], rem_max_[2 * v + 1]) + rem_add_[v];
  }

  std::size_t rem_global_max() const { return static_cast<std::size_t>(std::max<std::int64_t>(rem_max_[1], 0)); }

  /// Places k at `level`; false (with the state partly changed, undo to the mark) when the bound
  /// says no plan within capacity follows.
  bool place(index_t k, std::size_t level) {
    // Bounds use sizes padded to the tensor's alignment, so that with one alignment for all the
    // search is exact; `slack_` allows for the padding of whichever tensor ends up on top.
    const std::size_t end = level + padded_[k];
    placed_[k] = 1;
    off_[k] = level;
    set_tree(k, infinite, true);
    rem_add(1, 0, sec_leaves_ - 1, p_.s[k], p_.e[k], -static_cast<std::int64_t>(padded_[k]));
    bool ok = level + p_.size[k] <= capacity_;
    for (index_t t = p_.s[k]; t <= p_.e[k]; ++t) {
      // The tensors still to place at t go above this one: it tops the placed ones there.
      rem_[t] -= padded_[k];
      if (end + rem_[t] > capacity_ + slack_) ok = false;
    }
    if (!ok) return false;
    const index_t* nb = p_.neighbours(k);
    for (std::size_t x = 0, d = p_.degree(k); x < d; ++x) {
      const index_t j = nb[x];
      if (placed_[j]) continue;
      const std::size_t raised = align_up(end, p_.align[j]);
      if (raised > lo_[j]) {
        undo_.push_back({undo_entry::lo, j, lo_[j]});
        lo_[j] = raised;
        if (raised + p_.size[j] > capacity_) return false;
        set_tree(j, raised, true);  // also wakes a tensor asleep at a lower level
      }
    }
    return level + rem_global_max() <= capacity_ + slack_;
  }

  void undo_to(std::size_t mark, index_t k) {
    while (undo_.size() > mark) {
      const undo_entry u = undo_.back();
      undo_.pop_back();
      switch (u.kind) {
        case undo_entry::lo: lo_[u.index] = u.value; break;
        case undo_entry::tree: set_tree(u.index, u.value, false); break;
      }
    }
    for (index_t t = p_.s[k]; t <= p_.e[k]; ++t) rem_[t] += padded_[k];
    rem_add(1, 0, sec_leaves_ - 1, p_.s[k], p_.e[k], static_cast<std::int64_t>(padded_[k]));
    placed_[k] = 0;
  }

  /// Tensors asleep at `level` in frames of that level must have been raised before the search
  /// moves above it; otherwise they could never be placed.
  bool sleepers_raised(std::size_t level) const {
    for (auto f = stack_.rbegin(); f != stack_.rend() && f->level == level; ++f) {
      for (index_t k : f->slept) {
        if (lo_[k] <= level) return false;
      }
    }
    return true;
  }

  void record(std::size_t arena) {
    best_arena_ = arena;
    best_off_ = off_;
    found_ = true;
    capacity_ = arena - 1;  // from now on only strictly better plans count
  }

  void dfs() {
    if (!started_) {
      started_ = true;
      stack_.push_back(frame{lo_tree_[1], 0, 0, 0, {}, 0, false});
    }
    while (!stack_.empty()) {
      // Stopping here leaves the state consistent, so the next run() resumes exactly here.
      if (nodes_ >= budget_ || (found_ && best_arena_ <= target_)) return;
      frame& f = stack_.back();
      if (f.child_active) {
        // Back from the child's subtree (or a failed placement): every plan with the child at
        // this level has been seen, so it sleeps here for the remaining siblings.
        undo_to(f.undo_mark, f.child);
        --placed_count_;
        f.child_active = false;
        f.slept.push_back(f.child);
        set_tree(f.child, infinite, false);
      }
      const std::size_t r = find_at_level(f.next_rank, f.level);
      if (r >= p_.n) {
        for (index_t k : f.slept) set_tree(k, lo_[k], false);
        stack_.pop_back();
        continue;
      }
      f.next_rank = r + 1;
      const index_t k = by_rank_[r];
      ++nodes_;
      f.undo_mark = undo_.size();
      f.child = k;
      f.child_active = true;
      ++placed_count_;
      if (!place(k, f.level)) continue;
      const std::size_t arena = std::max(f.arena, f.level + p_.size[k]);
      if (arena > capacity_) continue;  // the capacity dropped since this path was built
      if (placed_count_ == p_.n) {
        record(arena);
        continue;
      }
      const std::size_t next_level = lo_tree_[1];
      if (next_level == infinite) continue;  // only sleepers are left at this level: dead end
      if (next_level > f.level && !sleepers_raised(f.level)) continue;
      stack_.push_back(frame{next_level, 0, 0, arena, {}, 0, false});
    }
  }

  const problem& p_;
  std::vector<index_t> rank_;
  std::vector<index_t> by_rank_;
  std::vector<std::size_t> lo_;
  std::vector<char> placed_;
  std::vector<std::size_t> off_;
  std::vector<std::size_t> padded_, rem_;
  std::size_t slack_ = 0;
  std::size_t leaves_ = 1, sec_leaves_ = 1;
  std::vector<std::size_t> lo_tree_;
  std::vector<std::int64_t> rem_max_, rem_add_;
  std::vector<undo_entry> undo_;
  std::vector<frame> stack_;
  std::size_t placed_count_ = 0;
  std::size_t capacity_ = infinite, target_ = 0, budget_ = 0, nodes_ = 0;
  bool found_ = false, started_ = false;
  std::size_t best_arena_ = 0;
  std::vector<std::size_t> best_off_;
};

enum class order_key { size, area, lifetime };

/// Tensors sorted for greedy placement or for branching; ties keep the order of first_op.
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

placement finish(const problem& p, std::size_t count, const std::vector<std::size_t>& off, std::string method) {
  placement out;
  out.offsets.assign(count, 0);
  for (std::size_t k = 0; k < p.n; ++k) out.offsets[p.original[k]] = off[k];
  out.arena = arena_of(p, off);
  out.lower_bound = p.lower_bound;
  out.max_alignment = p.max_alignment;
  out.method = std::move(method);
  return out;
}

}  // namespace

std::size_t lower_bound(const std::vector<lifetime>& tensors) { return make_problem(tensors).lower_bound; }

std::uint64_t overlapping_pairs(const std::vector<lifetime>& tensors) { return make_problem(tensors).overlap_pairs; }

placement place_greedy_by_size(const std::vector<lifetime>& tensors) {
  problem p = make_problem(tensors);
  build_conflicts(p);
  return finish(p, tensors.size(), greedy(p, order_by(p, order_key::size), fit::best), "greedy-by-size");
}

placement place(const std::vector<lifetime>& tensors, const options& options) {
  problem p = make_problem(tensors);
  if (p.n == 0) return finish(p, tensors.size(), {}, "empty");
  // A greedy run visits every tensor and both ends of every overlapping pair.
  // A greedy run or a settle pass visits every tensor and both ends of every overlapping pair.
  // Inputs of up to search_max_tensors tensors get the whole portfolio; larger ones what fits
  // max_greedy_work, and the sweep when not even one greedy run does.
  const std::uint64_t run_work = p.n + 2 * p.overlap_pairs;
  const bool small = p.n <= options.search_max_tensors;
  if (p.overlap_pairs > options.max_overlapping_pairs || (!small && run_work > options.max_greedy_work)) {
    // Too large for greedy placement of everything: the better of a time sweep (good on dense,
    // random-like inputs) and greedy placement of the largest tensors (good on traces, where a
    // sweep behaves like a caching allocator).
    std::vector<std::size_t> sweep = sweep_best_fit(p);
    const std::size_t sweep_arena = arena_of(p, sweep);
    if (static_cast<double>(sweep_arena) <= 1.02 * static_cast<double>(p.lower_bound)) {  // good enough
      return finish(p, tensors.size(), sweep, "sweep-best-fit");
    }
    std::vector<std::size_t> largest =
        greedy_on_largest(tensors, p, order_by(p, order_key::size), options.max_greedy_work);
    if (arena_of(p, largest) < sweep_arena) return finish(p, tensors.size(), largest, "greedy-on-largest");
    return finish(p, tensors.size(), sweep, "sweep-best-fit");
  }
  build_conflicts(p);

  std::vector<std::size_t> best;
  std::size_t best_arena = std::numeric_limits<std::size_t>::max();
  std::string best_method;
  std::uint64_t work = 0;
  auto affordable = [&] { return small || work + run_work <= options.max_greedy_work; };
  // `make_order` is only called when the member runs: at 100 000 tensors an unused order costs
  // as much as a cheap greedy run.
  auto consider = [&](auto&& make_order, fit rule, const char* method) {
    if (best_arena == p.lower_bound || (work > 0 && !affordable())) return;
    work += run_work;
    std::vector<std::size_t> off = greedy(p, make_order(), rule);
    std::size_t a = arena_of(p, off);
    if (a > p.lower_bound && affordable()) {
      work += run_work;
      settle(p, off);
      a = arena_of(p, off);
    }
    if (a < best_arena) {
      best_arena = a;
      best = std::move(off);
      best_method = method;
    }
  };
  const std::vector<index_t> by_size = order_by(p, order_key::size);
  consider([&]() -> const std::vector<index_t>& { return by_size; }, fit::best, "greedy-by-size");
  consider([&]() -> const std::vector<index_t>& { return by_size; }, fit::first, "greedy-by-size-first-fit");
  consider([&] { return order_by_breadth(p); }, fit::best, "greedy-by-breadth");
  consider([&] { return order_by(p, order_key::area); }, fit::best, "greedy-by-area");
  consider([&] { return order_by(p, order_key::lifetime); }, fit::best, "greedy-by-lifetime");

  // Depth-first search gets stuck in the subtree of its first choices, so several branching
  // orders take turns with doubling slices of the budget, each resuming where it stopped and
  // bounded by the best plan found so far by any of them.
  if (best_arena > p.lower_bound && options.search_nodes > 0 && p.n <= options.search_max_tensors) {
    std::vector<std::unique_ptr<canonical_search>> searches;
    searches.push_back(std::make_unique<canonical_search>(p, by_size));
    searches.push_back(std::make_unique<canonical_search>(p, order_by(p, order_key::area)));
    searches.push_back(std::make_unique<canonical_search>(p, order_by(p, order_key::lifetime)));
    searches.push_back(std::make_unique<canonical_search>(p, order_by_breadth(p)));
    std::size_t spent = 0;
    std::size_t slice = std::max<std::size_t>(options.search_nodes / 16, 1);
    bool complete = false;
    while (!complete && spent < options.search_nodes && best_arena > p.lower_bound) {
      for (auto& search : searches) {
        if (complete || spent >= options.search_nodes || best_arena == p.lower_bound) break;
        const std::size_t give = std::min(slice, options.search_nodes - spent);
        const std::size_t before = search->nodes();
        if (search->run(best_arena - 1, p.lower_bound, before + give)) {
          best = search->best();
          best_arena = search->best_arena();
          best_method = "search";
        }
        spent += search->nodes() - before;
        complete = search->finished();  // the whole canonical space was covered: nothing better
      }
      slice *= 2;
    }
  }
  return finish(p, tensors.size(), best, best_method);
}

}  // namespace unimem::detail::placement

namespace unimem {
namespace {

void check_input(const std::vector<tensor_lifetime>& tensors, const char* call) {
  std::size_t total = 0;
  if (tensors.size() >= std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument(fmt::format("unimem::{}: {} tensors; at most {} can be planned at once",
                                            call, tensors.size(), std::numeric_limits<std::uint32_t>::max() - 1));
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.last_op < t.first_op) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: tensor {} has last_op {} < first_op {}; last_op is inclusive, so a tensor used by "
          "one op has last_op == first_op",
          call, i, t.last_op, t.first_op));
    }
    if (t.alignment == 0 || (t.alignment & (t.alignment - 1)) != 0) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: tensor {} has alignment {}; use a power of two (1 for none)", call, i, t.alignment));
    }
    if (t.alignment > (std::size_t{1} << 32)) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: tensor {} has alignment {}; at most 4 GiB is supported", call, i, t.alignment));
    }
    // Every sum the planner forms (live bytes, arena, padding) is at most this total, so bounding
    // it once rules out overflow everywhere.
    constexpr std::size_t limit = std::numeric_limits<std::size_t>::max() / 4;
    if (t.bytes > limit - total || t.alignment > limit - total - t.bytes) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: the tensors up to tensor {} ({} B) need more than {} B together; no arena can hold them",
          call, i, t.bytes, limit));
    }
    total += t.bytes + t.alignment;
  }
}

std::vector<detail::placement::lifetime> to_items(const std::vector<tensor_lifetime>& tensors) {
  std::vector<detail::placement::lifetime> items(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    items[i] = {tensors[i].bytes, tensors[i].first_op, tensors[i].last_op, tensors[i].alignment};
  }
  return items;
}

memory_plan to_plan(detail::placement::placement&& placed) {
  memory_plan plan;
  plan.offsets = std::move(placed.offsets);
  plan.arena_bytes = placed.arena;
  plan.lower_bound_bytes = placed.lower_bound;
  plan.arena_alignment = placed.max_alignment;
  plan.method = std::move(placed.method);
  return plan;
}

}  // namespace

std::size_t lower_bound_bytes(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "lower_bound_bytes");
  return detail::placement::lower_bound(to_items(tensors));
}

std::uint64_t overlapping_pairs(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "overlapping_pairs");
  return detail::placement::overlapping_pairs(to_items(tensors));
}

std::size_t naive_bytes(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "naive_bytes");  // also bounds the sum below
  std::size_t sum = 0;
  for (const auto& t : tensors) {
    // Laid out one after another; padding keeps every offset aligned.
    if (t.bytes != 0) sum = detail::align_up(sum, t.alignment) + t.bytes;
  }
  return sum;
}

memory_plan plan_greedy_by_size(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "plan_greedy_by_size");
  return to_plan(detail::placement::place_greedy_by_size(to_items(tensors)));
}

memory_plan plan_memory(const std::vector<tensor_lifetime>& tensors, const plan_options& options) {
  check_input(tensors, "plan_memory");
  detail::placement::options opts;
  opts.search_nodes = options.search_nodes;
  opts.search_max_tensors = options.search_max_tensors;
  opts.max_greedy_work = options.max_greedy_work;
  opts.max_overlapping_pairs = options.max_overlapping_pairs;
  return to_plan(detail::placement::place(to_items(tensors), opts));
}

plan_check validate_plan(const std::vector<tensor_lifetime>& tensors, const memory_plan& plan) {
  plan_check r;
  auto fail = [&](std::size_t a, std::size_t b, std::string msg) {
    r.ok = false;
    r.first = a;
    r.second = b;
    r.message = std::move(msg);
    return r;
  };
  if (plan.offsets.size() != tensors.size()) {
    return fail(plan_check::none, plan_check::none,
                fmt::format("the plan has {} offsets for {} tensors", plan.offsets.size(), tensors.size()));
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.last_op < t.first_op) {
      return fail(i, plan_check::none, fmt::format("tensor {} has last_op {} < first_op {}", i, t.last_op, t.first_op));
    }
    if (t.alignment == 0 || (t.alignment & (t.alignment - 1)) != 0) {
      return fail(i, plan_check::none, fmt::format("tensor {} has alignment {}, not a power of two", i, t.alignment));
    }
    if (t.bytes == 0) continue;
    const std::size_t o = plan.offsets[i];
    if (o % t.alignment != 0) {
      return fail(i, plan_check::none, fmt::format("tensor {} at offset {} is not aligned to {}", i, o, t.alignment));
    }
    if (plan.arena_alignment % t.alignment != 0) {
      return fail(i, plan_check::none, fmt::format("tensor {} needs alignment {} but the arena is aligned to {}", i,
                                                   t.alignment, plan.arena_alignment));
    }
    if (o > plan.arena_bytes || t.bytes > plan.arena_bytes - o) {
      return fail(i, plan_check::none, fmt::format("tensor {} at [{}, {}) ends past the arena of {} B", i, o,
                                                   o + t.bytes, plan.arena_bytes));
    }
  }
  // Sweep in time; the live tensors never overlap, so checking each newcomer against its
  // neighbours in address order is enough.
  std::vector<std::size_t> by_start, by_end;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].bytes > 0) by_start.push_back(i);
  }
  by_end = by_start;
  std::sort(by_start.begin(), by_start.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].first_op < tensors[b].first_op; });
  std::sort(by_end.begin(), by_end.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].last_op < tensors[b].last_op; });
  std::map<std::size_t, std::size_t> live;  // offset -> tensor
  std::size_t ended = 0;
  for (std::size_t i : by_start) {
    const auto& t = tensors[i];
    while (ended < by_end.size() && tensors[by_end[ended]].last_op < t.first_op) {
      const std::size_t j = by_end[ended++];
      auto it = live.find(plan.offsets[j]);
      if (it != live.end() && it->second == j) live.erase(it);
    }
    const std::size_t o = plan.offsets[i], end = o + t.bytes;
    auto next = live.lower_bound(o);
    if (next != live.end() && next->first < end) {
      const std::size_t j = next->second;
      return fail(i, j, fmt::format("tensors {} [{}, {}) ops {}..{} and {} [{}, {}) ops {}..{} overlap", i, o, end,
                                    t.first_op, t.last_op, j, plan.offsets[j], plan.offsets[j] + tensors[j].bytes,
                                    tensors[j].first_op, tensors[j].last_op));
    }
    if (next != live.begin()) {
      const std::size_t j = std::prev(next)->second;
      if (plan.offsets[j] + tensors[j].bytes > o) {
        return fail(i, j, fmt::format("tensors {} [{}, {}) ops {}..{} and {} [{}, {}) ops {}..{} overlap", i, o, end,
                                      t.first_op, t.last_op, j, plan.offsets[j], plan.offsets[j] + tensors[j].bytes,
                                      tensors[j].first_op, tensors[j].last_op));
      }
    }
    live.emplace(o, i);
  }
  return r;
}

}  // namespace unimem

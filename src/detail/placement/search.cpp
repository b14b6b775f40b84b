// The canonical search: see search.hpp and docs/planning.md.
#include "detail/placement/search.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "detail/size_math.hpp"

namespace unimem::detail::placement {

class canonical_search::state {
 public:
  state(const problem& p, const std::vector<index_t>& branch_order)
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


canonical_search::canonical_search(const problem& p, const std::vector<index_t>& branch_order)
    : s_(std::make_unique<state>(p, branch_order)) {}
canonical_search::~canonical_search() = default;
bool canonical_search::run(std::size_t capacity, std::size_t target, std::size_t node_budget) {
  return s_->run(capacity, target, node_budget);
}
const std::vector<std::size_t>& canonical_search::best() const { return s_->best(); }
std::size_t canonical_search::best_arena() const { return s_->best_arena(); }
std::size_t canonical_search::nodes() const { return s_->nodes(); }
bool canonical_search::finished() const { return s_->finished(); }

}  // namespace unimem::detail::placement

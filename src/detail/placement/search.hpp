// Internal: bounded branch-and-bound over settled placements (after Moffitt, "MiniMalloc",
// ASPLOS 2023). Not installed.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

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
  canonical_search(const problem& p, const std::vector<index_t>& branch_order);
  ~canonical_search();
  canonical_search(const canonical_search&) = delete;
  canonical_search& operator=(const canonical_search&) = delete;

  /// Searches for plans with arena <= capacity, keeping the smallest; stops at `target` or when
  /// `node_budget` placements have been tried. Returns true when a plan was found.
  /// Resumes where the previous run stopped (the capacity only ever drops, so what was pruned
  /// stays pruned).
  bool run(std::size_t capacity, std::size_t target, std::size_t node_budget);

  const std::vector<std::size_t>& best() const;
  std::size_t best_arena() const;
  std::size_t nodes() const;
  /// True when the whole canonical space has been searched: no plan below the capacity exists.
  bool finished() const;

 private:
  class state;
  std::unique_ptr<state> s_;
};

}  // namespace unimem::detail::placement

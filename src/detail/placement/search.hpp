// Internal: the exact search, a decision procedure "is there a layout within capacity C?" in
// the manner of Moffitt's MiniMalloc (ASPLOS 2023). Not installed.
//
// It builds canonical layouts only: tensors placed at nondecreasing offsets, each at its lowest
// feasible offset (the top of its placed time-neighbours), tensors at one offset in the order of
// a static ranking, and never a tensor at or above the lowest end any unplaced tensor could
// reach (that would leave a gap it could fill: a dominated layout). Pruning: in every section,
// the bytes still to place there go above the section's floor (the top of what is placed there,
// or the lowest offset any unplaced tensor of the section can take, and at least the current
// offset), so floor + remaining <= C. When no unplaced tensor crosses a section boundary any
// more, the two sides are searched independently: a failure on one side fails the node without
// trying combinations. Sizes are padded to alignments, which keeps it exact when all tensors
// share one alignment and a (valid) heuristic otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {


class decision_search {
 public:
  enum class outcome { found, infeasible, aborted };

  /// `p` needs its conflict graph (build_conflicts). `ranking` orders tensors placed at one
  /// offset (MiniMalloc's static preordering): keys compared in turn, larger first, one letter
  /// each: W lifetime in ops, C lifetime in sections, A bytes x ops, T the most bytes live in
  /// any section of the tensor, Z bytes.
  decision_search(const problem& p, const char* ranking);
  ~decision_search();
  decision_search(const decision_search&) = delete;
  decision_search& operator=(const decision_search&) = delete;

  /// Looks for a layout within `capacity`, from scratch, stopping after `work_limit` units of
  /// work (tensors visited: a node costs its part's tensors, a placement tried its neighbours
  /// and twice the part's sections) or at `deadline`. `infeasible` is a proof: the whole
  /// canonical space was searched.
  outcome run(std::size_t capacity, std::uint64_t work_limit, std::chrono::steady_clock::time_point deadline);

  /// The layout of the last `found` run.
  const std::vector<std::size_t>& offsets() const;
  /// Nodes (placements descended into) and work of the last run.
  std::size_t nodes() const;
  std::uint64_t work() const;

 private:
  class state;
  std::unique_ptr<state> s_;
};

}  // namespace unimem::detail::placement

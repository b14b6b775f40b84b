// Internal: the one offline placer. Tensors with known lifetimes get offsets in one range; both
// the static planner (unimem::plan_memory) and the pool's learned iterations
// (pools/pool_plan.hpp) are served by it. It sits in detail/ because it belongs to no layer: the
// pool (layer 3) and the planner (layer 6) both use it. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace unimem::detail::placement {

/// One tensor: `bytes` live from `first` through `last` inclusive, at a multiple of `alignment`
/// (a power of two). The caller has checked the input (see unimem::plan_memory's checks).
struct lifetime {
  std::size_t bytes = 0;
  std::size_t first = 0;
  std::size_t last = 0;
  std::size_t alignment = 1;
};

/// How hard the placer tries. The fields mean what unimem::plan_options documents.
struct options {
  std::uint64_t search_work = 10000000;
  std::uint64_t greedy_work = 4000000;
  std::size_t target = 0;
  double time_limit_ms = 0;
};

struct placement {
  std::vector<std::size_t> offsets;  // per tensor (0 for tensors of 0 bytes)
  std::size_t arena = 0;             // max over tensors of offset + bytes
  std::size_t lower_bound = 0;       // most bytes live at once
  std::size_t max_alignment = 1;     // the range's base must be aligned to this
  std::string method;                // the placement that decided the arena
  bool proved_optimal = false;       // arena == lower bound, or a search covered everything below
  std::size_t search_nodes = 0;      // spent
};

/// Exact reductions, exact layouts where the structure allows them, a portfolio of heuristics,
/// then a bounded search where the arena is still above the lower bound. Deterministic unless
/// a time limit is set.
placement place(const std::vector<lifetime>& tensors, const options& opts = {});

/// Plain greedy-by-size with best fit (Pisarchyk & Lee 2020), the baseline; builds the whole
/// conflict graph.
placement place_greedy_by_size(const std::vector<lifetime>& tensors);

/// Most bytes live at once, and the number of pairs of tensors (of more than 0 bytes) live at
/// the same time.
std::size_t lower_bound(const std::vector<lifetime>& tensors);
std::uint64_t overlapping_pairs(const std::vector<lifetime>& tensors);

}  // namespace unimem::detail::placement

// Internal: offline placement of one recorded iteration (every allocation with a known lifetime)
// into a single range. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace unimem::detail {

struct planned_interval {
  std::size_t bytes = 0;      // rounded to the pool granule
  std::size_t alignment = 0;  // a power of two >= the pool granule
  std::uint32_t start = 0;    // index of its allocate in the iteration's calls
  std::uint32_t end = 0;      // index of its free; live over [start, end)
};

struct layout {
  std::vector<std::size_t> offsets;  // per interval
  std::size_t size = 0;              // end of the highest interval
};

/// Places every interval so that no two live at the same time share a byte, with the planner's
/// engine (detail/placement/placer.hpp): its greedy portfolio, and for large iterations its
/// O(n log n) paths, so every iteration gets a layout whatever its size.
layout plan_layout(const std::vector<planned_interval>& intervals);

}  // namespace unimem::detail

namespace unimem::detail {

/// For allocation j (in allocation order) of a layout: the earlier allocations that last held
/// some byte of j's range before j. In an iteration whose frees come in another order than
/// planned, j may take its planned place once all of them are freed (each of them, in turn, was
/// placed only once its own predecessors were freed). Compressed rows: j's list is
/// list[begin[j] .. begin[j+1]).
struct predecessor_lists {
  std::vector<std::uint32_t> begin;
  std::vector<std::uint32_t> list;
};

predecessor_lists plan_predecessors(const std::vector<std::size_t>& offsets, const std::vector<planned_interval>& iv);

}  // namespace unimem::detail

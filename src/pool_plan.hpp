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

/// Places every interval at the lowest offset where it overlaps no interval that is live at the
/// same time, trying two orders (largest first; largest size x lifetime first) and keeping the
/// smaller layout. O(n^2) per order in the worst case.
layout plan_layout(const std::vector<planned_interval>& intervals);

}  // namespace unimem::detail

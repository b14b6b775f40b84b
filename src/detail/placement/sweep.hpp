// Internal: the time sweep, a placement that needs no conflict graph. Not installed.
#pragma once

#include <cstdint>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

/// Time-order sweep that replays the program through a segregated-fit allocator over offsets,
/// larger tensors first among those starting together: O(n log n) whatever the overlap, so it
/// stands in for greedy-by-size on huge, dense inputs.
std::vector<std::size_t> sweep_best_fit(const problem& p);

}  // namespace unimem::detail::placement

// Internal: greedy placement in a given order (Pisarchyk & Lee 2020), the orders of the
// portfolio, and settling. All walk the conflict graph. Not installed.
#pragma once

#include <cstddef>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

enum class fit { best, first };


/// Places tensors in `order`, each at the best-fitting (or lowest) gap left by the already placed
/// tensors it overlaps in time; on top of them when no gap fits.
std::vector<std::size_t> greedy(const problem& p, const std::vector<index_t>& order, fit rule);

/// Lowers every tensor, in order of offset, onto the highest tensor below it that it overlaps in
/// time (or to 0). Never raises a tensor, so the arena never grows. O(n log n) on the skyline:
/// needs no conflict graph.
void settle(const problem& p, std::vector<std::size_t>& off);

enum class order_key { size, area, lifetime };

/// Tensors sorted for greedy placement or for branching; ties keep the order of first_op.
std::vector<index_t> order_by(const problem& p, order_key key);

/// Greedy-by-breadth (Pisarchyk & Lee): sections by live bytes, largest first; within a section
/// its tensors by size.
std::vector<index_t> order_by_breadth(const problem& p);

}  // namespace unimem::detail::placement

// Internal: placements that need no conflict graph, for inputs too large or too dense for it.
// Not installed.
#pragma once

#include <cstdint>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

/// Time-order sweep that replays the program through a segregated-fit allocator over offsets,
/// larger tensors first among those starting together: O(n log n) whatever the overlap, so it
/// stands in for greedy-by-size on huge, dense inputs.
std::vector<std::size_t> sweep_best_fit(const problem& p);

/// For inputs too large for one greedy run within `budget`: greedy-by-size (and settling) for
/// the largest tensors, as many as keep their own conflict graph within the budget, then every
/// other tensor, largest first, on top of the skyline of what is placed during its lifetime.
std::vector<std::size_t> greedy_on_largest(const std::vector<lifetime>& tensors, const problem& p,
                                           const std::vector<index_t>& by_size, std::uint64_t budget);

}  // namespace unimem::detail::placement

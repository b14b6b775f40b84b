// Internal: bottom-left fill, the canonical dive of the search without backtracking. Not
// installed.
#pragma once

#include <cstddef>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

/// Fills the lowest valley of the skyline first: the leftmost run of sections at the lowest
/// height takes the unplaced tensor that fits inside it (its whole lifetime within the run) with
/// the earliest start, the longest lifetime among those, then the largest size; a run that no
/// tensor fits is raised to its lower neighbour. Every placement sits on what is below it (a
/// settled plan), and where the lower bound is reachable with every section full (perfect
/// packings) most choices are forced. O(n log n), no conflict graph.
std::vector<std::size_t> bottom_left_fill(const problem& p);

}  // namespace unimem::detail::placement

// Internal: recombination of tensors into rectangles, which recovers layouts by levels. Not
// installed.
//
// Where every byte of the bound is used at every op (a perfect packing, e.g. a rectangle cut
// recursively in time and in bytes), what ends at a boundary and what starts right after it
// occupy the same addresses. Two rules undo such cuts: tensors with the same lifetime are
// stacked into one (a cut in bytes), and when exactly one tensor ends at a boundary and exactly
// one of the same size starts right after it, the second takes the first's place (a cut in
// time). Applied until neither applies, a perfect packing collapses into few rectangles that the
// exact decomposition stacks. Elsewhere the rules are a heuristic (in-place reuse of a freed
// tensor, tensors of one lifetime side by side): the placer keeps the result only if it is
// better.
#pragma once

#include <cstddef>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

struct recombination {
  std::vector<lifetime> groups;     // the rectangles, as tensors to place
  std::vector<index_t> group_of;    // per tensor of the problem: its rectangle
  std::vector<std::size_t> within;  // per tensor: its offset inside its rectangle
};

/// Empty groups when no rule applies. O(n log n).
recombination recombine(const problem& p);

}  // namespace unimem::detail::placement

// Internal: exact reductions of a placement problem. Not installed.
//
// Two facts lose no optimum. (1) Where no tensor is live across the boundary between two
// sections, the two sides are independent problems sharing the arena. (2) A tensor live over the
// whole of an independent part (it "spans" it) can go at the bottom of that part: in any layout
// of the part, every other tensor lies wholly below or wholly above it, so removing it and
// lowering what was above by its size is again a layout, and stacking it under an optimal layout
// of the rest is optimal. Applying both until neither applies leaves irreducible "leaves", each
// at a base offset (the spanning tensors stacked under it). Nested scopes and repeated
// iterations reduce to nothing or to small leaves.
#pragma once

#include <cstddef>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

struct decomposition {
  struct leaf {
    std::vector<index_t> members;  // tensors of the problem, in problem order
    std::size_t base = 0;          // the leaf's offset 0
  };
  std::vector<std::size_t> offsets;  // per tensor: final for stacked ones, `unplaced` for leaf members
  std::vector<leaf> leaves;
  std::size_t stacked_top = 0;       // highest end of a stacked tensor
};

/// O(n + S log S) for S sections; iterative, so nesting of any depth is fine.
decomposition decompose(const problem& p);

}  // namespace unimem::detail::placement

// Internal: exact layouts for structures that provably reach the lower bound. Not installed.
#pragma once

#include <cstddef>
#include <vector>

#include "detail/placement/problem.hpp"

namespace unimem::detail::placement {

/// At most two tensors live at once: the interval graph is a forest, so two colours suffice;
/// one colour sits at offset 0, the other against the top of an arena of `capacity` bytes. Two
/// tensors live together never need more than the lower bound, so with capacity = lower bound
/// the layout is optimal. Empty when p has more than two tensors live at once or alignment
/// padding breaks a pair.
std::vector<std::size_t> two_sided(const problem& p, std::size_t capacity);

/// Every tensor has the same size and alignment: interval colouring in order of start (each
/// tensor takes the lowest free slot) uses as many slots as tensors are ever live at once, which
/// is the lower bound. Empty when the sizes or alignments differ.
std::vector<std::size_t> equal_size_slots(const problem& p);

}  // namespace unimem::detail::placement

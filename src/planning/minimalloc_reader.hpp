// Internal: MiniMalloc's CSV read from an open line reader, so that load_tensor_lifetimes can take
// it among the other planning inputs. Not installed.
#pragma once

#include <vector>

#include <unimem/planning/planner.hpp>

#include "detail/text_lines.hpp"

namespace unimem::detail {

/// The buffers of a MiniMalloc CSV whose header is the next non-blank line of `in`.
/// @throws std::runtime_error as parse_minimalloc_csv
std::vector<tensor_lifetime> read_minimalloc(text_lines& in);

}  // namespace unimem::detail

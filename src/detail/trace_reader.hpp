// Internal: the trace reader over an open text_lines, for readers that look at the first line
// before they know the format (load_tensor_lifetimes). Not installed.
#pragma once

#include <string>

#include <unimem/trace.hpp>

#include "detail/text_lines.hpp"

namespace unimem::detail {

/// The header of a trace, as the first non-blank line must be, with or without the stream column.
inline constexpr std::string_view trace_header = "op,id,bytes,stream";
inline constexpr std::string_view trace_header_without_stream = "op,id,bytes";

/// Reads a whole trace from `in` (header first) with the rules of parse_trace.
alloc_trace read_trace(text_lines& in, std::string name);

}  // namespace unimem::detail

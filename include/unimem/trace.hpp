/// @file trace.hpp
/// @brief The allocation-trace CSV format (BRIEF §5): `op,id,bytes,stream`.
///
/// `op` is `a` (allocate) or `f` (free); `id` pairs a free with its allocate; `bytes` is the
/// request; `stream` is a small integer naming the stream (0 is the default stream).
/// logging_resource writes this format; unimem-replay and the replay benchmark read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace unimem {

/// @brief One line of a trace.
struct trace_op {
  bool is_alloc = true;      ///< `a` (true) or `f` (false)
  std::uint64_t id = 0;      ///< pairs a free with its allocate
  std::size_t bytes = 0;     ///< requested bytes (repeated on the free)
  std::uint32_t stream = 0;  ///< stream number; 0 is the default stream
};

/// @brief A parsed, validated trace.
struct alloc_trace {
  std::string name;             ///< where it came from (file name without extension)
  std::vector<trace_op> ops;

  /// @brief Number of allocate lines.
  std::size_t allocation_count() const noexcept;
  /// @brief Largest sum of live requested bytes at any point of the trace.
  std::size_t peak_live_bytes() const noexcept;
  /// @brief One more than the largest id (ids index a table when replaying).
  std::uint64_t id_bound() const noexcept;
};

/// @brief Parses and validates CSV text in the trace format.
/// @param text   the whole file's contents
/// @param name   used in error messages and stored as alloc_trace::name
/// @throws std::runtime_error naming the line, the value and what is expected: wrong header,
///         unknown op, a free of an id that is not live, an allocate of an id already live, a
///         free whose bytes differ from its allocate. Allocations never freed are allowed.
alloc_trace parse_trace(std::string_view text, std::string name = "trace");

/// @brief Writes the header line `op,id,bytes,stream`.
void write_trace_header(std::ostream& out);
/// @brief Writes one op as a CSV line.
void write_trace_op(std::ostream& out, const trace_op& op);

}  // namespace unimem

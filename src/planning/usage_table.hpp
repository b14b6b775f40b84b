// Internal: the usage-table reader over an open file, for the fuzz target and read_usage_segment.
// Not installed.
#pragma once

#include <optional>
#include <string>

#include <unimem/planning/usage_publisher.hpp>

namespace unimem::detail {

/// Reads the table in `fd` (not closed) with every rule of read_usage_segment; `path` is what the
/// result names.
std::optional<process_usage> read_usage_table(int fd, const std::string& path, bool all_users);

}  // namespace unimem::detail

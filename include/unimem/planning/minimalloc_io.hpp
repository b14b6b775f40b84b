/// @file minimalloc_io.hpp
/// @brief Reads the input format of MiniMalloc (Moffitt, ASPLOS 2023; github.com/google/minimalloc),
/// the public benchmark format of offline memory allocation.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

#include <unimem/planning/planner.hpp>

namespace unimem {

/// @brief Reads MiniMalloc's CSV: a header naming `id`, `lower`, `upper` and `size` (in any order,
/// an optional `alignment` column too), then one buffer per line live over the half-open
/// interval [lower, upper), which becomes a tensor live from op `lower` through op `upper - 1`.
/// `source` names the input in error messages.
/// @throws std::runtime_error naming the source and line for a missing column, a field that is
///         not a non-negative integer, upper <= lower, or an alignment that is not a power of two
std::vector<tensor_lifetime> parse_minimalloc_csv(std::istream& in, const std::string& source = "<stream>");

/// @brief Reads a MiniMalloc CSV file (plain or gzip). load_tensor_lifetimes reads these files too.
/// @throws std::runtime_error when the file cannot be read, or as parse_minimalloc_csv
std::vector<tensor_lifetime> load_minimalloc_csv(const std::string& path);

/// @brief The capacity in a MiniMalloc benchmark file name, `<name>.<capacity>.csv` (e.g.
/// `A.1048576.csv`), or 0 when the name has none.
std::size_t minimalloc_capacity(const std::string& path);

/// @brief True when `header_line` is a MiniMalloc header (names id, lower, upper and size).
bool is_minimalloc_header(const std::string& header_line);

/// @brief True when the file's first non-blank line is a MiniMalloc header. Reads one bounded line.
/// @throws std::runtime_error when the file cannot be read or is not text (e.g. /dev/zero)
bool is_minimalloc_file(const std::string& path);

}  // namespace unimem

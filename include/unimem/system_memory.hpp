/// @file system_memory.hpp
/// @brief Host memory as the kernel reports it. On Jetson this is the memory the GPU shares, and
/// the right source for budgets: cudaMemGetInfo there ignores page cache and swap.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace unimem {

/// @brief Fields of /proc/meminfo, in bytes.
struct meminfo {
  std::size_t mem_total = 0;
  std::size_t mem_available = 0;
  std::size_t swap_total = 0;
  std::size_t swap_free = 0;
};

/// @brief Parses the text of /proc/meminfo (lines like "MemAvailable:  123456 kB").
/// @throws std::runtime_error when MemTotal or MemAvailable is missing or malformed, naming the line
meminfo parse_meminfo(const std::string& text);

/// @brief Reads /proc/meminfo (or `path`, for tests).
/// @return std::nullopt when the file cannot be read (not Linux)
std::optional<meminfo> read_meminfo(const std::string& path = "/proc/meminfo");

}  // namespace unimem

// Internal: reading a small text file whose path a user or the system gives (/proc/meminfo, the
// NvMap debugfs table, a fixture passed with --meminfo) without trusting what is there. Not
// installed.
//
// A FIFO would block open() and read() forever, /dev/zero would be read until memory runs out, a
// huge file would be read whole: the file is opened non-blocking, must be a regular file (procfs,
// sysfs and debugfs files are), and is read up to a limit.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace unimem::detail {

/// The whole content of `path`.
/// @param what names the caller in errors, e.g. "unimem::read_meminfo"
/// @return std::nullopt when the file does not exist or cannot be opened (permissions)
/// @throws std::runtime_error naming `what` and the path (escaped): not a regular file, more than
///         `max_bytes`, or a read error
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes, const char* what);

}  // namespace unimem::detail

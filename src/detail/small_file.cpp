#include "detail/small_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

namespace unimem::detail {

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes, const char* what) {
  if (path.find('\0') != std::string::npos) {
    throw std::runtime_error(fmt::format("{}(\"{}\"): the path contains a NUL byte", what, printable(path)));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw std::runtime_error(fmt::format("{}(\"{}\"): not a regular file (a FIFO, device or folder); pass the path of "
                                         "a file",
                                         what, printable(path)));
  }
  std::string text;
  char chunk[8192];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("{}(\"{}\"): reading failed: {}", what, printable(path), std::strerror(errno)));
    }
    if (got == 0) return text;
    if (static_cast<std::size_t>(got) > max_bytes - text.size()) {
      throw std::runtime_error(fmt::format("{}(\"{}\"): more than {} B; this is not the small text file expected",
                                           what, printable(path), max_bytes));
    }
    text.append(chunk, static_cast<std::size_t>(got));
  }
}

}  // namespace unimem::detail

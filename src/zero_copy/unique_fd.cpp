#include <unimem/zero_copy/unique_fd.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

namespace unimem {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) {
    // Linux releases the descriptor even when close() reports EINTR; retrying could close a
    // descriptor another thread has just been given.
    ::close(fd_);
  }
  fd_ = fd;
}

unique_fd unique_fd::duplicate(int fd, const char* who) {
  if (fd < 0) {
    throw std::invalid_argument(fmt::format("{}: fd {} is not a file descriptor", who, fd));
  }
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    const int err = errno;
    if (err == EBADF) {
      throw std::invalid_argument(
          fmt::format("{}: fd {} is not open (closed already?); pass an open descriptor", who, fd));
    }
    throw std::system_error(err, std::generic_category(),
                            fmt::format("{}: duplicating fd {} failed (too many open files?)", who, fd));
  }
  return unique_fd(copy);
}

}  // namespace unimem

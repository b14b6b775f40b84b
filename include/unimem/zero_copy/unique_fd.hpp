/// @file unique_fd.hpp
/// @brief An owning POSIX file descriptor: closed exactly once, move-only.
#pragma once

#include <utility>

namespace unimem {

/// @brief Owns one file descriptor (dma-buf, memfd, shared memory, eventfd...) and closes it in
/// the destructor. -1 means "none".
class unique_fd {
 public:
  unique_fd() noexcept = default;
  /// @param fd a descriptor the caller hands over (it must not close it afterwards), or -1
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  /// @brief A close-on-exec duplicate of `fd` (the caller keeps its own descriptor).
  /// @param who names the caller in the error message, e.g. "unimem::import_dmabuf"
  /// @throws std::invalid_argument when `fd` is not an open descriptor
  /// @throws std::system_error     when the process is out of descriptors
  static unique_fd duplicate(int fd, const char* who);

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// @brief Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// @brief Closes the current descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

}  // namespace unimem

/// @file error.hpp
/// @brief The exceptions unimem throws. Every message names the call, the value and the fix.
#pragma once

#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

namespace unimem {

/// @brief A CUDA runtime call failed.
///
/// `what()` reads like "cudaHostRegister(0x7f.., 4096 B) failed: cudaErrorNotSupported (operation
/// not supported) — <hint>".
class cuda_error : public std::runtime_error {
 public:
  /// @param call   the failing call with its arguments, e.g. "cudaMalloc(1048576 B)"
  /// @param code   the cudaError_t value, as an int so this header needs no CUDA header
  /// @param hint   what the caller can do about it; may be empty
  cuda_error(std::string call, int code, std::string hint = {});

  const std::string& call() const noexcept { return call_; }
  int code() const noexcept { return code_; }
  /// @brief The CUDA error's enumerator name, e.g. "cudaErrorInvalidValue".
  const std::string& error_name() const noexcept { return name_; }
  /// @brief The CUDA runtime's description of the error.
  const std::string& error_text() const noexcept { return text_; }

 private:
  std::string call_;
  int code_;
  std::string name_;
  std::string text_;
};

/// @brief An allocation could not be satisfied. Derives from std::bad_alloc so code written
/// against the standard library's contract catches it.
class out_of_memory : public std::bad_alloc {
 public:
  /// @param requested_bytes the size that failed
  /// @param resource        the resource's name, e.g. "unimem::device_resource"
  /// @param hint            what the caller can do (free something, lower the batch, use X)
  out_of_memory(std::size_t requested_bytes, std::string resource, std::string hint);

  const char* what() const noexcept override { return message_.c_str(); }
  std::size_t requested_bytes() const noexcept { return requested_bytes_; }
  const std::string& resource() const noexcept { return resource_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::size_t requested_bytes_;
  std::string resource_;
  std::string hint_;
  std::string message_;
};

/// @brief The device cannot do what was asked of it (e.g. cudaHostRegister on a Jetson Nano).
/// The message names the capability that is missing and the resource to use instead.
class unsupported_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// @brief The CPU was about to touch memory it cannot access (device memory through a host
/// accessor). Thrown instead of the segfault that would follow; the message names the resource
/// and says how to get the data to the host.
class host_access_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// @brief `text` made safe to quote in a message or to print on a terminal: control characters
/// (C0, DEL, C1) and bytes that are not UTF-8 written as \xNN, at most `max_chars` bytes kept
/// ("..." marks a cut). Errors quote file names, labels and values read from files through it, so
/// that no input can forge lines or drive a terminal.
std::string printable(std::string_view text, std::size_t max_chars = 200);

}  // namespace unimem

// Reading fuzz bytes as typed values, for the libFuzzer targets beside it. Running out of bytes
// gives zeros, so every input is a complete case.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace unimem::fuzz {

/// Stops the fuzzer with a message: a property the target checks did not hold.
[[noreturn]] inline void fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", target, what.c_str());
  std::abort();
}

class input {
 public:
  input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  template <class T>
  T take() {
    T v{};
    const std::size_t n = sizeof(T) < size_ ? sizeof(T) : size_;
    std::memcpy(&v, data_, n);
    data_ += n;
    size_ -= n;
    return v;
  }
  /// Up to `max` bytes as a string.
  std::string take_string(std::size_t max) {
    const std::size_t n = max < size_ ? max : size_;
    std::string s(reinterpret_cast<const char*>(data_), n);
    data_ += n;
    size_ -= n;
    return s;
  }
  /// Everything left.
  std::string_view rest() {
    std::string_view s(reinterpret_cast<const char*>(data_), size_);
    data_ += size_;
    size_ = 0;
    return s;
  }
  std::size_t left() const noexcept { return size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

}  // namespace unimem::fuzz

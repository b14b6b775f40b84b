/// @file span.hpp
/// @brief `unimem::span<T>`: a pointer and a count, usable on the host and in kernels.
///
/// C++17 has no std::span and cuda::std::span would pull CCCL into every header that only wants
/// to hand out a contiguous range, so unimem carries this small subset of std::span.
#pragma once

#include <cstddef>
#include <type_traits>

#include <unimem/detail/config.hpp>

namespace unimem {

/// @brief A non-owning contiguous range of `T`. Like std::span with a dynamic extent: nothing is
/// checked (first/last/subspan with bad arguments are undefined, as there), so it costs what a
/// pointer costs, in host code and in kernels.
template <class T>
class span {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using pointer = T*;
  using reference = T&;
  using iterator = T*;

  constexpr span() noexcept = default;
  UNIMEM_HOST_DEVICE constexpr span(T* data, size_type size) noexcept : data_(data), size_(size) {}
  /// @brief span<T> → span<const T>.
  template <class U, std::enable_if_t<std::is_convertible_v<U (*)[], T (*)[]>, int> = 0>
  UNIMEM_HOST_DEVICE constexpr span(const span<U>& other) noexcept  // NOLINT: implicit like std::span
      : data_(other.data()), size_(other.size()) {}

  UNIMEM_HOST_DEVICE constexpr T* data() const noexcept { return data_; }
  UNIMEM_HOST_DEVICE constexpr size_type size() const noexcept { return size_; }
  UNIMEM_HOST_DEVICE constexpr size_type size_bytes() const noexcept { return size_ * sizeof(T); }
  UNIMEM_HOST_DEVICE constexpr bool empty() const noexcept { return size_ == 0; }

  UNIMEM_HOST_DEVICE constexpr T& operator[](size_type i) const noexcept { return data_[i]; }
  UNIMEM_HOST_DEVICE constexpr T& front() const noexcept { return data_[0]; }
  UNIMEM_HOST_DEVICE constexpr T& back() const noexcept { return data_[size_ - 1]; }
  UNIMEM_HOST_DEVICE constexpr T* begin() const noexcept { return data_; }
  UNIMEM_HOST_DEVICE constexpr T* end() const noexcept { return data_ + size_; }

  UNIMEM_HOST_DEVICE constexpr span first(size_type n) const noexcept { return {data_, n}; }
  UNIMEM_HOST_DEVICE constexpr span last(size_type n) const noexcept { return {data_ + (size_ - n), n}; }
  /// @brief Elements [offset, offset + count), or [offset, size()) for the default count.
  UNIMEM_HOST_DEVICE constexpr span subspan(size_type offset, size_type count = size_type(-1)) const noexcept {
    return {data_ + offset, count == size_type(-1) ? size_ - offset : count};
  }

 private:
  T* data_ = nullptr;
  size_type size_ = 0;
};

}  // namespace unimem

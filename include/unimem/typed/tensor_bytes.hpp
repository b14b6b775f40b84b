/// @file tensor_bytes.hpp
/// @brief Accounting helpers: bytes of a shape, bytes of a model's parameters. Every product is
/// overflow-checked, because a shape read from a file or a negative value cast to unsigned is
/// exactly where silent wrap-around produces a tiny allocation and a corrupt heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include <unimem/typed/dtype.hpp>
#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief Elements of a shape: the product of its extents (1 for rank 0).
/// @throws std::invalid_argument a negative extent
/// @throws std::overflow_error   the product does not fit in std::ptrdiff_t
std::uint64_t element_count(const std::int64_t* extents, std::size_t rank);
inline std::uint64_t element_count(std::initializer_list<std::int64_t> shape) {
  return element_count(shape.begin(), shape.size());
}
inline std::uint64_t element_count(const std::vector<std::int64_t>& shape) {
  return element_count(shape.data(), shape.size());
}

/// @brief Bytes of a dense tensor of this shape and dtype: element_count × size_of(dtype).
/// `bytes_for({1, 3, 224, 224}, dtype::f16)` is 301 056.
/// @throws std::invalid_argument a negative extent
/// @throws std::overflow_error   the byte count does not fit in std::ptrdiff_t
std::size_t bytes_for(const std::int64_t* extents, std::size_t rank, dtype type);
inline std::size_t bytes_for(std::initializer_list<std::int64_t> shape, dtype type) {
  return bytes_for(shape.begin(), shape.size(), type);
}
inline std::size_t bytes_for(const std::vector<std::int64_t>& shape, dtype type) {
  return bytes_for(shape.data(), shape.size(), type);
}

/// @brief What an allocation of `bytes` occupies once rounded up to `alignment` (a power of two;
/// 256 B by default, the alignment of every unimem allocation).
/// @throws std::invalid_argument alignment is 0 or not a power of two
/// @throws std::overflow_error   the rounded size does not fit in std::size_t
std::size_t allocation_bytes(std::size_t bytes, std::size_t alignment = default_alignment);

namespace detail {

/// @brief Throws std::overflow_error, naming `what` and the shape, unless the product of the
/// extents with zero extents counted as 1, times `element_bytes`, fits in std::ptrdiff_t. Row-major
/// strides skip zero extents, so this is what keeps them from overflowing for an empty shape such
/// as (0, 2^40, 2^40), whose element count (0) alone says nothing. Extents must be non-negative
/// (element_count checks that).
void check_row_major_span(const std::int64_t* extents, std::size_t rank, std::size_t element_bytes, const char* what);

}  // namespace detail

/// @brief Memory of `parameters` weights stored as `type`: parameters × bytes per element.
/// @throws std::overflow_error the product does not fit in std::size_t
std::size_t parameter_bytes(std::uint64_t parameters, dtype type);

/// @brief Parameters of a fully connected layer: in × out weights, plus out biases.
/// A 1024 → 512 layer with bias has 524 800 (2 099 200 B ≈ 2.1 MB in f32, half that in f16, a
/// quarter in int8).
/// @throws std::overflow_error the count does not fit in 64 bits
std::uint64_t linear_parameters(std::uint64_t in_features, std::uint64_t out_features, bool bias = true);

/// @brief Parameters of a 2-D convolution: out × (in / groups) × kernel_h × kernel_w weights, plus
/// out biases.
/// @throws std::invalid_argument groups is 0 or does not divide both channel counts
/// @throws std::overflow_error   the count does not fit in 64 bits
std::uint64_t conv2d_parameters(std::uint64_t in_channels, std::uint64_t out_channels, std::uint64_t kernel_h,
                                std::uint64_t kernel_w, std::uint64_t groups = 1, bool bias = true);

}  // namespace unimem

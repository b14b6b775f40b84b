#include <unimem/typed/tensor_bytes.hpp>

#include <limits>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace unimem {
namespace {

constexpr auto ptrdiff_max = static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max());

std::string shape_text(const std::int64_t* extents, std::size_t rank) {
  std::string out = "(";
  for (std::size_t d = 0; d < rank; ++d) out += fmt::format(d == 0 ? "{}" : ", {}", extents[d]);
  return out + ")";
}

/// a × b, or throws naming `what` when it exceeds `limit`.
std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t limit, const char* what) {
  if (a != 0 && b > limit / a) {
    throw std::overflow_error(fmt::format("{}: {} × {} exceeds {}; check the sizes", what, a, b, limit));
  }
  return a * b;
}

std::uint64_t checked_add(std::uint64_t a, std::uint64_t b, const char* what) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) {
    throw std::overflow_error(fmt::format("{}: {} + {} does not fit in 64 bits; check the sizes", what, a, b));
  }
  return a + b;
}

}  // namespace

std::uint64_t element_count(const std::int64_t* extents, std::size_t rank) {
  bool has_zero = false;
  for (std::size_t d = 0; d < rank; ++d) {
    if (extents[d] < 0) {
      throw std::invalid_argument(fmt::format("unimem::element_count{}: extent {} of dimension {} is negative",
                                              shape_text(extents, rank), extents[d], d));
    }
    has_zero = has_zero || extents[d] == 0;
  }
  if (has_zero) return 0;
  std::uint64_t n = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    const auto e = static_cast<std::uint64_t>(extents[d]);
    if (e > ptrdiff_max / n) {
      throw std::overflow_error(fmt::format(
          "unimem::element_count{}: the product of the extents does not fit in std::ptrdiff_t; check the shape",
          shape_text(extents, rank)));
    }
    n *= e;
  }
  return n;
}

namespace detail {

void check_row_major_span(const std::int64_t* extents, std::size_t rank, std::size_t element_bytes, const char* what) {
  const std::uint64_t limit = ptrdiff_max / (element_bytes == 0 ? 1 : element_bytes);
  std::uint64_t span = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    const auto e = static_cast<std::uint64_t>(extents[d] > 1 ? extents[d] : 1);
    if (span > limit / e) {
      throw std::overflow_error(fmt::format(
          "{}: shape {}: the product of its extents (zero extents counted as 1) times {} B does not fit in "
          "std::ptrdiff_t, so its strides would overflow; check the shape",
          what, shape_text(extents, rank), element_bytes));
    }
    span *= e;
  }
}

}  // namespace detail

std::size_t bytes_for(const std::int64_t* extents, std::size_t rank, dtype type) {
  const std::uint64_t n = element_count(extents, rank);
  const std::uint64_t b = size_of(type);
  if (b != 0 && n > ptrdiff_max / b) {
    throw std::overflow_error(fmt::format("unimem::bytes_for{}, {}: {} elements of {} B do not fit in "
                                          "std::ptrdiff_t bytes; check the shape",
                                          shape_text(extents, rank), to_string(type), n, b));
  }
  return static_cast<std::size_t>(n * b);
}

std::size_t allocation_bytes(std::size_t bytes, std::size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::allocation_bytes({} B, alignment {}): alignment must be a non-zero power of two", bytes, alignment));
  }
  if (bytes > std::numeric_limits<std::size_t>::max() - (alignment - 1)) {
    throw std::overflow_error(fmt::format(
        "unimem::allocation_bytes({} B, alignment {}): the rounded size does not fit in std::size_t", bytes,
        alignment));
  }
  return (bytes + alignment - 1) & ~(alignment - 1);
}

std::size_t parameter_bytes(std::uint64_t parameters, dtype type) {
  return static_cast<std::size_t>(checked_mul(parameters, size_of(type), std::numeric_limits<std::size_t>::max(),
                                              "unimem::parameter_bytes"));
}

std::uint64_t linear_parameters(std::uint64_t in_features, std::uint64_t out_features, bool bias) {
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t weights = checked_mul(in_features, out_features, max, "unimem::linear_parameters");
  return bias ? checked_add(weights, out_features, "unimem::linear_parameters") : weights;
}

std::uint64_t conv2d_parameters(std::uint64_t in_channels, std::uint64_t out_channels, std::uint64_t kernel_h,
                                std::uint64_t kernel_w, std::uint64_t groups, bool bias) {
  if (groups == 0 || in_channels % groups != 0 || out_channels % groups != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::conv2d_parameters(in {}, out {}, groups {}): groups must be >= 1 and divide both channel counts",
        in_channels, out_channels, groups));
  }
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  const char* what = "unimem::conv2d_parameters";
  std::uint64_t weights = checked_mul(out_channels, in_channels / groups, max, what);
  weights = checked_mul(weights, kernel_h, max, what);
  weights = checked_mul(weights, kernel_w, max, what);
  return bias ? checked_add(weights, out_channels, what) : weights;
}

}  // namespace unimem

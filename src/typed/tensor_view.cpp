// Error messages of tensor_view.hpp, kept here so the header needs no formatter.
#include <unimem/typed/tensor_view.hpp>

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace unimem::detail {
namespace {

std::string list(std::size_t rank, const std::int64_t* values) {
  std::string out = "(";
  for (std::size_t d = 0; d < rank; ++d) out += fmt::format(d == 0 ? "{}" : ", {}", values[d]);
  return out + ")";
}

}  // namespace

void throw_negative_extent(const char* what, std::size_t dim, std::int64_t extent) {
  throw std::invalid_argument(
      fmt::format("{}: extent {} of dimension {} is negative; extents count elements and must be >= 0", what,
                  extent, dim));
}

void throw_negative_stride(const char* what, std::size_t dim, std::int64_t stride) {
  throw std::invalid_argument(fmt::format(
      "{}: stride {} of dimension {} is negative; unimem views need strides >= 0 (in elements, not bytes) — "
      "make a reversed tensor contiguous first",
      what, stride, dim));
}

void throw_view_too_large(const char* what, std::size_t rank, const std::int64_t* extents,
                          const std::int64_t* strides, std::size_t element_bytes) {
  throw std::overflow_error(fmt::format(
      "{}: extents {}{}{} with {}-byte elements address more bytes than std::ptrdiff_t can count; check the "
      "shape (a negative value converted to unsigned?)",
      what, list(rank, extents), strides != nullptr ? " and strides " : "",
      strides != nullptr ? list(rank, strides) : std::string{}, element_bytes));
}

void throw_bad_dimension(const char* what, std::size_t dim, std::size_t rank) {
  throw std::out_of_range(
      fmt::format("{}: dimension {} does not exist in a rank-{} view; dimensions are 0 .. {}", what, dim, rank,
                  rank == 0 ? 0 : rank - 1));
}

void throw_index_out_of_range(const char* what, std::size_t dim, std::int64_t index, std::int64_t extent) {
  throw std::out_of_range(fmt::format("{}: index {} of dimension {} is outside [0, {})", what, index, dim, extent));
}

void throw_bad_range(const char* what, std::size_t dim, std::int64_t begin, std::int64_t end, std::int64_t step,
                     std::int64_t extent) {
  if (step < 1) {
    throw std::invalid_argument(
        fmt::format("{}: step {} along dimension {} must be >= 1 (reversed views are not supported)", what, step,
                    dim));
  }
  throw std::out_of_range(fmt::format(
      "{}: range [{}, {}) along dimension {} does not lie in [0, {}]; need 0 <= begin <= end <= extent", what,
      begin, end, dim, extent));
}

void throw_not_contiguous(const char* what, std::size_t rank, const std::int64_t* extents,
                          const std::int64_t* strides) {
  throw std::invalid_argument(fmt::format(
      "{}: the view with extents {} and strides {} is not contiguous in row-major order; copy it into a dense "
      "tensor first",
      what, list(rank, extents), list(rank, strides)));
}

void throw_inner_stride(const char* what, std::size_t rank, const std::int64_t* extents,
                        const std::int64_t* strides) {
  throw std::invalid_argument(fmt::format(
      "{}: the view with extents {} and strides {} has innermost stride {}, but a pitched_view needs contiguous "
      "rows (innermost stride 1); use a strided_view for it",
      what, list(rank, extents), list(rank, strides), rank == 0 ? 1 : strides[rank - 1]));
}

void throw_reshape_mismatch(const char* what, std::uint64_t from_elements, std::uint64_t to_elements) {
  throw std::invalid_argument(fmt::format(
      "{}: cannot view {} elements as a shape of {} elements; the products of the extents must match", what,
      from_elements, to_elements));
}

}  // namespace unimem::detail

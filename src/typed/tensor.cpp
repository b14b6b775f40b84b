#include <unimem/typed/tensor.hpp>

#include <stdexcept>
#include <string>
#include <utility>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/typed/tensor_bytes.hpp>


namespace unimem {
namespace {

/// The device current now, or -1 where CUDA cannot say (only a test double claiming device
/// access without a GPU gets there): a label for DLPack, not worth failing an allocation over.
int current_device_or_none() noexcept {
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return device;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "(";
  for (std::size_t d = 0; d < shape.size(); ++d) out += fmt::format(d == 0 ? "{}" : ", {}", shape[d]);
  return out + ")";
}

}  // namespace

tensor::tensor(std::vector<std::int64_t> shape, dtype type, memory_resource& mr, stream_view stream)
    : type_(type), shape_(std::move(shape)) {
  const std::size_t bytes = bytes_for(shape_, type_);  // validates the shape
  detail::check_row_major_span(shape_.data(), shape_.size(), size_of(type_), "unimem::tensor(shape, dtype, mr)");
  size_ = element_count(shape_);
  storage_ = buffer<std::byte>(bytes, mr, stream);
  // DLPack export names the device; the allocation was made on the device current now.
  if (storage_.device_accessible()) device_ = current_device_or_none();
}

std::int64_t tensor::extent(std::size_t d) const {
  if (d >= shape_.size()) {
    throw std::out_of_range(
        fmt::format("unimem::tensor::extent({}): the tensor has rank {}", d, shape_.size()));
  }
  return shape_[d];
}

std::vector<std::int64_t> tensor::strides() const {
  std::vector<std::int64_t> s(shape_.size());
  std::int64_t step = 1;
  for (std::size_t d = shape_.size(); d-- > 0;) {
    s[d] = step;
    step *= shape_[d] > 1 ? shape_[d] : 1;  // cannot overflow: check_row_major_span passed
  }
  return s;
}

void tensor::check_view(dtype requested, std::size_t rank, const char* what) const {
  if (requested != type_) {
    throw std::invalid_argument(fmt::format(
        "{}: the tensor holds {} but the view asks for {}; use the element type of element_type()", what,
        to_string(type_), to_string(requested)));
  }
  if (rank != shape_.size()) {
    throw std::invalid_argument(fmt::format(
        "{}: the tensor has rank {} (shape {}) but the view asks for rank {}; reshape() it first", what,
        shape_.size(), shape_text(shape_), rank));
  }
}

void tensor::copy_from(const void* src, std::size_t bytes, stream_view stream) {
  if (bytes != size_bytes()) {
    throw std::invalid_argument(fmt::format(
        "unimem::tensor::copy_from({}, {} B): the tensor {} {} holds {} B; pass exactly size_bytes()", src, bytes,
        to_string(type_), shape_text(shape_), size_bytes()));
  }
  storage_.copy_from(static_cast<const std::byte*>(src), bytes, stream);
}

void tensor::copy_to(void* dst, std::size_t bytes, stream_view stream) const {
  if (bytes != size_bytes()) {
    throw std::invalid_argument(fmt::format(
        "unimem::tensor::copy_to({}, {} B): the tensor {} {} holds {} B; pass exactly size_bytes()", dst, bytes,
        to_string(type_), shape_text(shape_), size_bytes()));
  }
  storage_.copy_to(static_cast<std::byte*>(dst), bytes, stream);
}

tensor tensor::copy(memory_resource& mr, stream_view stream) const {
  tensor out;
  out.type_ = type_;
  out.shape_ = shape_;
  out.size_ = size_;
  out.storage_ = storage_.copy(mr, stream);
  if (out.storage_.device_accessible()) out.device_ = current_device_or_none();
  return out;
}

void tensor::reshape(std::vector<std::int64_t> shape) {
  const std::uint64_t n = element_count(shape);  // validates the new shape
  detail::check_row_major_span(shape.data(), shape.size(), size_of(type_), "unimem::tensor::reshape");
  if (n != size_) {
    throw std::invalid_argument(fmt::format(
        "unimem::tensor::reshape{}: the tensor has {} elements (shape {}), the new shape {}; the products of the "
        "extents must match",
        shape_text(shape), size_, shape_text(shape_), n));
  }
  shape_ = std::move(shape);
}

}  // namespace unimem

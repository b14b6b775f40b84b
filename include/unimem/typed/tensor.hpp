/// @file tensor.hpp
/// @brief `unimem::tensor`: a dtype-erased, owning, dense row-major tensor over a buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <unimem/typed/buffer.hpp>
#include <unimem/typed/dtype.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/stream.hpp>
#include <unimem/typed/tensor_view.hpp>

namespace unimem {

/// @brief An owning tensor whose element type is a run-time `dtype`: the shape of a model's
/// inputs, outputs and weights as they arrive from files and frameworks. Dense and row-major; its
/// memory is a buffer<std::byte> (256-byte aligned, uninitialized, freed on its stream — see
/// buffer). Typed access goes through view<T, Rank>(), which checks T and Rank against the tensor.
/// Move-only; copies are explicit (copy()).
class tensor {
 public:
  /// @brief An empty f32 tensor of shape {0} with no memory and no resource.
  tensor() = default;

  /// @brief Allocates an uninitialized tensor of `shape` and `type` from `mr` on `stream`.
  /// `tensor({2, 3, 224, 224}, dtype::f16, mr)`. A shape with a zero extent allocates nothing.
  /// @throws std::invalid_argument a negative extent
  /// @throws std::overflow_error   the byte size, or that of the shape with zero extents counted as
  ///                               1 (its strides), does not fit in std::ptrdiff_t
  /// @throws out_of_memory, cuda_error
  tensor(std::vector<std::int64_t> shape, dtype type, memory_resource& mr, stream_view stream = {});

  tensor(tensor&&) noexcept = default;
  tensor& operator=(tensor&&) noexcept = default;
  tensor(const tensor&) = delete;
  tensor& operator=(const tensor&) = delete;
  ~tensor() = default;

  dtype element_type() const noexcept { return type_; }
  std::size_t rank() const noexcept { return shape_.size(); }
  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  /// @throws std::out_of_range d >= rank()
  std::int64_t extent(std::size_t d) const;
  /// @brief Row-major strides in elements.
  std::vector<std::int64_t> strides() const;
  /// @brief Number of elements (1 for rank 0).
  std::uint64_t size() const noexcept { return size_; }
  std::size_t size_bytes() const noexcept { return storage_.size_bytes(); }
  bool empty() const noexcept { return size_ == 0; }

  /// @brief The memory, unchecked (for kernels and copies).
  void* data() noexcept { return storage_.data(); }
  const void* data() const noexcept { return storage_.data(); }
  const buffer<std::byte>& storage() const noexcept { return storage_; }
  memory_resource* resource() const noexcept { return storage_.resource(); }
  const resource_traits& traits() const noexcept { return storage_.traits(); }
  /// @brief CUDA device that was current at allocation when the memory is device-accessible;
  /// -1 for memory no GPU can access.
  int device() const noexcept { return device_; }
  stream_view stream() const noexcept { return storage_.stream(); }
  void set_stream(stream_view stream) noexcept { storage_.set_stream(stream); }

  /// @brief A typed, contiguous (layout_right) view for kernels (unchecked host access). T must
  /// match element_type() and Rank must match rank().
  /// @throws std::invalid_argument T or Rank does not match
  template <class T, std::size_t Rank>
  tensor_view<T, Rank> view() {
    static_assert(has_dtype_v<T>, "unimem::tensor::view<T, Rank>: T has no dtype (see unimem::dtype_of)");
    check_view(dtype_of_v<T>, Rank, "unimem::tensor::view");
    return make_view<T, Rank>(storage_.data());
  }
  template <class T, std::size_t Rank>
  tensor_view<const T, Rank> view() const {
    static_assert(has_dtype_v<T>, "unimem::tensor::view<T, Rank>: T has no dtype (see unimem::dtype_of)");
    check_view(dtype_of_v<T>, Rank, "unimem::tensor::view");
    return make_view<const T, Rank>(storage_.data());
  }

  /// @brief view() for CPU code: also refuses memory the CPU cannot touch.
  /// @throws std::invalid_argument T or Rank does not match
  /// @throws host_access_error     the memory is not host-accessible
  template <class T, std::size_t Rank>
  tensor_view<T, Rank> host_view() {
    (void)storage_.host_span();  // throws host_access_error for device memory
    return view<T, Rank>();
  }
  template <class T, std::size_t Rank>
  tensor_view<const T, Rank> host_view() const {
    (void)storage_.host_span();
    return view<T, Rank>();
  }

  /// @brief Copies size_bytes() bytes from `src` (host memory or any memory CUDA knows), ordered on
  /// `stream`, which becomes the tensor's stream.
  /// @throws std::invalid_argument bytes != size_bytes()
  /// @throws cuda_error
  void copy_from(const void* src, std::size_t bytes, stream_view stream);
  /// @brief Copies the tensor's bytes into `dst`, ordered on `stream`; synchronize before reading.
  /// @throws std::invalid_argument bytes != size_bytes()
  /// @throws cuda_error
  void copy_to(void* dst, std::size_t bytes, stream_view stream) const;
  /// @brief A new tensor of the same shape, dtype and contents in memory from `mr`.
  /// @throws out_of_memory, cuda_error
  tensor copy(memory_resource& mr, stream_view stream) const;

  /// @brief Gives the same elements another shape with the same element count (no data moves).
  /// @throws std::invalid_argument a negative extent or a different element count
  /// @throws std::overflow_error   the new shape's strides would overflow (see the constructor)
  void reshape(std::vector<std::int64_t> shape);

 private:
  void check_view(dtype requested, std::size_t rank, const char* what) const;

  template <class T, std::size_t Rank>
  tensor_view<T, Rank> make_view(const void* p) const {
    index_array<Rank> e;
    for (std::size_t d = 0; d < Rank; ++d) e[d] = shape_[d];
    // The shape was validated when the tensor was made, so the unchecked path is safe.
    return tensor_view<T, Rank>::unchecked(static_cast<T*>(const_cast<void*>(p)), e);
  }

  buffer<std::byte> storage_;
  dtype type_ = dtype::f32;
  std::vector<std::int64_t> shape_{0};
  std::uint64_t size_ = 0;
  int device_ = -1;
};

}  // namespace unimem

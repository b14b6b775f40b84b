// The out-of-line half of buffer.hpp: error messages and the copies, which need the CUDA runtime.
#include <unimem/typed/buffer.hpp>

#include <cstring>
#include <stdexcept>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem::detail {
namespace {

/// Pageable host memory: the CPU may touch it and no GPU can, so no stream work can be pending on
/// it once a CUDA call that used it has returned (copies from and to pageable memory complete
/// their host side before returning).
bool host_only(const resource_traits& t) noexcept { return t.host_accessible && !t.device_accessible; }

/// True when CUDA knows `p` (device, managed, pinned or registered memory). Without a usable
/// CUDA device nothing can be CUDA memory, so the answer is false.
bool cuda_knows(const void* p) noexcept {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();  // no device or no driver: keep the error out of the caller's next check
    return false;
  }
  return attr.type != cudaMemoryTypeUnregistered;
}

void async_copy(void* dst, const void* src, std::size_t bytes, stream_view stream, const char* what) {
  const cudaError_t err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream.value());
  if (err != cudaSuccess) {
    throw_cuda_error(err, fmt::format("{}: cudaMemcpyAsync({}, {}, {}, cudaMemcpyDefault, stream {})", what, dst,
                                      src, format_bytes(bytes), static_cast<const void*>(stream.value())),
                     "both pointers must be host memory or memory of a CUDA device that is current or peer-"
                     "accessible; device memory needs a CUDA device");
  }
}

}  // namespace

void throw_buffer_too_large(const char* what, std::size_t count, std::size_t element_bytes) {
  throw std::length_error(fmt::format("{}: {} elements of {} B do not fit in std::size_t bytes; check the count",
                                      what, count, element_bytes));
}

void throw_host_inaccessible(const char* what, const memory_resource* mr, const void* p, std::size_t bytes) {
  const std::string_view name = mr != nullptr ? mr->name() : std::string_view{"no resource"};
  const std::string_view kind = mr != nullptr ? to_string(mr->traits().kind) : std::string_view{"unknown"};
  throw host_access_error(fmt::format(
      "{}: refusing CPU access to {} at {} ({} memory from {}): the CPU cannot dereference it and would "
      "segfault; copy it to host memory first (buffer::copy_to, or buffer::copy into a host, pinned or mapped "
      "resource), or allocate from a host-accessible resource (managed, mapped or pinned memory)",
      what, format_bytes(bytes), p, kind, name));
}

void throw_no_resource(const char* what) {
  throw std::logic_error(fmt::format(
      "{}: this buffer was default-constructed and has no memory_resource to allocate from; construct it with "
      "buffer(count, resource, stream)",
      what));
}

void throw_buffer_index(const char* what, std::size_t index, std::size_t size) {
  throw std::out_of_range(fmt::format("{}: index {} is outside [0, {})", what, index, size));
}

void throw_copy_count(const char* what, std::size_t count, std::size_t size) {
  throw std::out_of_range(fmt::format(
      "{}: cannot copy {} elements with a buffer of {}; copy at most size() elements or resize() first", what,
      count, size));
}

void throw_size_mismatch(const char* what, std::size_t src_size, std::size_t dst_size) {
  throw std::invalid_argument(fmt::format(
      "{}: source has {} elements, destination {}; both buffers must have the same size (resize() first)", what,
      src_size, dst_size));
}

void copy_bytes(void* dst, const resource_traits& dst_traits, const void* src, const resource_traits& src_traits,
                std::size_t bytes, stream_view stream, const char* what) {
  if (bytes == 0) return;
  if (host_only(dst_traits) && host_only(src_traits)) {
    std::memcpy(dst, src, bytes);
    return;
  }
  async_copy(dst, src, bytes, stream, what);
}

void copy_bytes_unknown(void* dst, const void* src, std::size_t bytes, const resource_traits& known,
                        bool known_is_dst, stream_view stream, const char* what) {
  if (bytes == 0) return;
  if (host_only(known) && !cuda_knows(known_is_dst ? src : dst)) {
    std::memcpy(dst, src, bytes);
    return;
  }
  async_copy(dst, src, bytes, stream, what);
}

}  // namespace unimem::detail

#include <unimem/resources/host_resource.hpp>

#include <cstdlib>

#include <unimem/error.hpp>

#include "detail/nvtx_range.hpp"

namespace unimem {

void* host_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view) {
  detail::nvtx_range range("unimem allocate host", bytes);
  // posix_memalign wants at least sizeof(void*); smaller power-of-two requests are met by that.
  const std::size_t a = alignment < sizeof(void*) ? sizeof(void*) : alignment;
  void* p = nullptr;
  if (::posix_memalign(&p, a, bytes) != 0 || p == nullptr) {
    throw out_of_memory(bytes, "unimem::host_resource",
                        "the C library could not provide it; free host memory or lower the request");
  }
  return p;
}

void host_resource::do_deallocate(void* p, std::size_t bytes, std::size_t, stream_view) {
  detail::nvtx_range range("unimem deallocate host", bytes);
  std::free(p);
}

}  // namespace unimem

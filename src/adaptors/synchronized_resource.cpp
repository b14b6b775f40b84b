#include <unimem/adaptors/synchronized_resource.hpp>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem {

void* synchronized_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    return upstream_->allocate(bytes, alignment, stream);
  } catch (const out_of_memory& e) {
    detail::rethrow_out_of_memory(e, "unimem::synchronized_resource");
  }
}

}  // namespace unimem

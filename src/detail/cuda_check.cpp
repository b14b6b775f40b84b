#include "detail/cuda_check.hpp"

#include <fmt/format.h>

#include <unimem/error.hpp>

namespace unimem::detail {

void throw_cuda_error(cudaError_t err, std::string call, std::string hint) {
  cudaGetLastError();
  throw cuda_error(std::move(call), static_cast<int>(err), std::move(hint));
}

void check_release(cudaError_t err, const char* release, const void* p, std::size_t bytes, const char* resource) {
  if (err == cudaSuccess) return;
  throw_cuda_error(err, fmt::format("{}({}, {} B)", release, p, bytes),
                   fmt::format("the pointer was not returned by {}::allocate, or was already freed", resource));
}

std::string device_free_memory_note() {
  std::size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  return fmt::format("cudaMemGetInfo reports {} free of {}", format_bytes(free_b), format_bytes(total_b));
}

std::string format_bytes(std::size_t bytes) {
  constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  return fmt::format("{} B ({:.1f} {})", bytes, v, units[u]);
}

}  // namespace unimem::detail

namespace unimem::detail {

void rethrow_out_of_memory(const out_of_memory& e, const char* adaptor) {
  throw out_of_memory(e.requested_bytes(), adaptor, fmt::format("upstream: {}", e.what()));
}

}  // namespace unimem::detail

// Internal: turning cudaError_t into unimem's exceptions. Not installed.
#pragma once

#include <cstddef>
#include <string>

#include <cuda_runtime_api.h>

namespace unimem::detail {

/// Throws cuda_error for `err`, after clearing the runtime's last-error slot so the failure does
/// not leak into the caller's next cudaGetLastError().
[[noreturn]] void throw_cuda_error(cudaError_t err, std::string call, std::string hint = {});

/// Throws cuda_error unless `err` is cudaSuccess.
inline void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) throw_cuda_error(err, call);
}

/// Throws cuda_error unless `err` is cudaSuccess, for `release` (cudaFree, cudaFreeHost, ...) of
/// `p` (`bytes`) in the deallocate of `resource` ("unimem::device_resource"), with the usual cause,
/// a pointer that resource did not allocate or already freed, as the hint.
void check_release(cudaError_t err, const char* release, const void* p, std::size_t bytes, const char* resource);

/// Free bytes on the current device as text for out-of-memory hints ("" when unknown).
std::string device_free_memory_note();

/// "1048576 B (1.0 MiB)"
std::string format_bytes(std::size_t bytes);

}  // namespace unimem::detail

namespace unimem {
class out_of_memory;
}

namespace unimem::detail {

/// Rethrows an upstream's out_of_memory under the adaptor's name, keeping the upstream's message
/// as the hint, so that the error names the resource the caller called.
[[noreturn]] void rethrow_out_of_memory(const out_of_memory& upstream_error, const char* adaptor);

}  // namespace unimem::detail

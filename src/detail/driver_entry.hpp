// Internal: reaching CUDA driver functions without linking libcuda. The runtime hands out their
// addresses (cudaGetDriverEntryPoint), so the library still loads on a machine without a driver
// and the caller reports the missing driver instead of failing to start. Not installed.
#pragma once

#include <string>

#include <cuda.h>  // types and enumerators only; nothing here links libcuda

namespace unimem::detail {

/// The address of driver function `symbol` at the 12.0 ABI (every function unimem calls has had
/// its current signature since then; asking for more would refuse drivers older than the
/// toolkit), or null, with the reason appended to `missing` ("name: why; ...").
void* driver_entry(const char* symbol, std::string& missing);

/// Loads `symbol` into `fn` (unchanged and `missing` told why when unavailable).
template <class F>
void load_driver_function(F& fn, const char* symbol, std::string& missing) {
  if (void* p = driver_entry(symbol, missing)) fn = reinterpret_cast<F>(p);
}

/// The driver's name for `r` ("CUDA_ERROR_OUT_OF_MEMORY"), or "CUresult N".
std::string driver_error_name(CUresult r);

/// Throws cuda_error for a failed driver call. CUresult and cudaError_t share their numbers for
/// the errors these calls return (INVALID_VALUE 1, OUT_OF_MEMORY 2, INVALID_HANDLE 400,
/// NOT_SUPPORTED 801 ...), so cuda_error's name and text are right; the driver's own name goes
/// into the call string.
[[noreturn]] void throw_driver_error(CUresult r, const std::string& call, std::string hint = {});

/// Makes the runtime create (or pick up) the current device's primary context, in which the
/// driver calls then run.
/// @throws cuda_error naming `who` when there is no usable device or driver
void ensure_cuda_context(const char* who);

}  // namespace unimem::detail

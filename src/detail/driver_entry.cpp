#include "detail/driver_entry.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem::detail {

void* driver_entry(const char* symbol, std::string& missing) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
  const cudaError_t err = cudaGetDriverEntryPointByVersion(symbol, &p, 12000, cudaEnableDefault, &status);
#else
  const cudaError_t err = cudaGetDriverEntryPoint(symbol, &p, cudaEnableDefault, &status);
#endif
  if (err != cudaSuccess || status != cudaDriverEntryPointSuccess || p == nullptr) {
    cudaGetLastError();
    if (!missing.empty()) missing += "; ";
    missing += fmt::format("{}: {}", symbol,
                           err != cudaSuccess ? cudaGetErrorName(err)
                           : status == cudaDriverEntryPointVersionNotSufficent ? "driver too old"
                                                                               : "not found");
    return nullptr;
  }
  return p;
}

std::string driver_error_name(CUresult r) {
  static const auto get_error_name = [] {
    decltype(&::cuGetErrorName) fn = nullptr;
    std::string ignored;
    load_driver_function(fn, "cuGetErrorName", ignored);
    return fn;
  }();
  const char* name = nullptr;
  if (get_error_name != nullptr && get_error_name(r, &name) == CUDA_SUCCESS && name != nullptr) return name;
  return fmt::format("CUresult {}", static_cast<int>(r));
}

void throw_driver_error(CUresult r, const std::string& call, std::string hint) {
  cudaGetLastError();
  throw cuda_error(fmt::format("{} [{}]", call, driver_error_name(r)), static_cast<int>(r), std::move(hint));
}

void ensure_cuda_context(const char* who) {
  const cudaError_t err = cudaFree(nullptr);
  if (err != cudaSuccess) {
    throw_cuda_error(err, fmt::format("{}: cudaFree(nullptr) to initialise the CUDA context", who),
                     "no usable CUDA device or driver");
  }
}

}  // namespace unimem::detail

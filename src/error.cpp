#include <unimem/error.hpp>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

namespace unimem {
namespace {

std::string cuda_message(const std::string& call, int code, const std::string& hint) {
  auto err = static_cast<cudaError_t>(code);
  std::string msg = fmt::format("{} failed: {} ({})", call, cudaGetErrorName(err), cudaGetErrorString(err));
  if (!hint.empty()) msg += fmt::format(" \u2014 {}", hint);
  return msg;
}

}  // namespace

cuda_error::cuda_error(std::string call, int code, std::string hint)
    : std::runtime_error(cuda_message(call, code, hint)),
      call_(std::move(call)),
      code_(code),
      name_(cudaGetErrorName(static_cast<cudaError_t>(code))),
      text_(cudaGetErrorString(static_cast<cudaError_t>(code))) {}

out_of_memory::out_of_memory(std::size_t requested_bytes, std::string resource, std::string hint)
    : requested_bytes_(requested_bytes),
      resource_(std::move(resource)),
      hint_(std::move(hint)),
      message_(fmt::format("{}: out of memory allocating {} B{}{}", resource_, requested_bytes_,
                           hint_.empty() ? "" : " \u2014 ", hint_)) {}

}  // namespace unimem

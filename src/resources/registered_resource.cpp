#include <unimem/resources/registered_resource.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <stdexcept>
#include <utility>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem {
namespace {

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_to_pages(std::size_t bytes) noexcept {
  const std::size_t p = page_size();
  return (bytes + p - 1) / p * p;
}

void require_host_register(const device_profile& profile, const char* who) {
  if (!profile.host_register_supported) {
    throw unsupported_error(fmt::format(
        "{}: {} reports hostRegisterSupported = 0 (as Jetson Nano and TX2 do), so cudaHostRegister cannot "
        "work; use unimem::mapped_resource instead and let the producer write into it",
        who, profile.name));
  }
}

std::string register_hint(cudaError_t err) {
  switch (err) {
    case cudaErrorHostMemoryAlreadyRegistered:
      return "part of this range is already registered; keep one unimem::registered_region per range";
    case cudaErrorNotSupported:
      return "this device or this memory cannot be registered; use unimem::mapped_resource instead";
    case cudaErrorInvalidValue:
      return "the range must be valid host memory that stays mapped while registered";
    default:
      return {};
  }
}

}  // namespace

registered_region::registered_region(void* ptr, std::size_t bytes, register_options options,
                                     const device_profile& profile) {
  if (ptr == nullptr || bytes == 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::registered_region({}, {} B): need a non-null pointer and a non-zero size of memory the "
        "caller owns",
        ptr, bytes));
  }
  require_host_register(profile, "unimem::registered_region");
  if (options.read_only && !profile.host_register_read_only_supported) {
    throw unsupported_error(fmt::format(
        "unimem::registered_region({}, {} B, read_only): {} reports hostRegisterReadOnlySupported = 0; "
        "register it read-write (register_options::read_only = false)",
        ptr, bytes, profile.name));
  }
  unsigned flags = cudaHostRegisterMapped;
  if (options.portable) flags |= cudaHostRegisterPortable;
  if (options.read_only) flags |= cudaHostRegisterReadOnly;
  const cudaError_t err = cudaHostRegister(ptr, bytes, flags);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, fmt::format("cudaHostRegister({}, {} B, flags {:#x})", ptr, bytes, flags),
                             register_hint(err));
  }
  void* dev = nullptr;
  const cudaError_t derr = cudaHostGetDevicePointer(&dev, ptr, 0);
  if (derr != cudaSuccess) {
    cudaHostUnregister(ptr);
    detail::throw_cuda_error(derr, fmt::format("cudaHostGetDevicePointer({})", ptr));
  }
  host_ = ptr;
  device_ = dev;
  bytes_ = bytes;
  read_only_ = options.read_only;
}

registered_region::~registered_region() { release(); }

registered_region::registered_region(registered_region&& other) noexcept
    : host_(std::exchange(other.host_, nullptr)),
      device_(std::exchange(other.device_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      read_only_(other.read_only_) {}

registered_region& registered_region::operator=(registered_region&& other) noexcept {
  if (this != &other) {
    release();
    host_ = std::exchange(other.host_, nullptr);
    device_ = std::exchange(other.device_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    read_only_ = other.read_only_;
  }
  return *this;
}

void registered_region::release() noexcept {
  if (host_ != nullptr) {
    // Unregistering can only fail if someone else unregistered the range; nothing to recover.
    if (cudaHostUnregister(host_) != cudaSuccess) cudaGetLastError();
    host_ = nullptr;
    device_ = nullptr;
    bytes_ = 0;
  }
}

registered_resource::registered_resource(const device_profile& profile)
    : natively_aligned_resource(page_size()), unified_addressing_(profile.unified_addressing) {
  require_host_register(profile, "unimem::registered_resource");
}

void* registered_resource::allocate_native(std::size_t bytes, stream_view) {
  const std::size_t len = round_to_pages(bytes);
  if (len < bytes) {
    throw out_of_memory(bytes, "unimem::registered_resource", "the size overflows when rounded to pages");
  }
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw out_of_memory(bytes, "unimem::registered_resource",
                        "mmap of anonymous pages failed; free host memory or lower the request");
  }
  const unsigned flags = cudaHostRegisterMapped | cudaHostRegisterPortable;
  const cudaError_t err = cudaHostRegister(p, len, flags);
  if (err != cudaSuccess) {
    ::munmap(p, len);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw out_of_memory(bytes, "unimem::registered_resource",
                          "the OS could not page-lock that much memory; raise the memlock limit (ulimit -l)");
    }
    detail::throw_cuda_error(err, fmt::format("cudaHostRegister({}, {} B, flags {:#x})", p, len, flags),
                             register_hint(err));
  }
  return p;
}

void registered_resource::deallocate_native(void* p, std::size_t bytes, stream_view) {
  detail::check_release(cudaHostUnregister(p), "cudaHostUnregister", p, bytes, "unimem::registered_resource");
  ::munmap(p, round_to_pages(bytes));
}

}  // namespace unimem

// The CUDA side of dma-buf: page-locking a mapping (runtime), importing and exporting dma-bufs
// (driver API). The driver functions are reached through cudaGetDriverEntryPoint so the library
// links against the runtime only: on a machine without libcuda it still loads, and the import
// reports the missing driver instead of failing to start.
#include <unimem/zero_copy/detail/dmabuf_backend.hpp>
#include <unimem/zero_copy/dmabuf.hpp>
#include <unimem/error.hpp>
#include <unimem/resources/registered_resource.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>

#include <cuda.h>  // types and enumerators only; nothing here links libcuda
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "detail/cuda_check.hpp"
#include "detail/driver_entry.hpp"

namespace unimem {
namespace {

// CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD appeared in cuda.h with Thor support; its value is
// part of the driver ABI, so older headers can still ask for it.
constexpr int dmabuf_fd_handle_type = 9;
#if CUDA_VERSION >= 13000
static_assert(CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD == dmabuf_fd_handle_type);
#endif
// CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED (CUDA 11.7); deprecated in 13 but still answered.
constexpr int dmabuf_supported_attribute = 124;

struct driver_api {
  decltype(&::cuGetErrorName) get_error_name = nullptr;
  decltype(&::cuDeviceGet) device_get = nullptr;
  decltype(&::cuDeviceGetAttribute) device_get_attribute = nullptr;
  decltype(&::cuImportExternalMemory) import_external_memory = nullptr;
  decltype(&::cuExternalMemoryGetMappedBuffer) get_mapped_buffer = nullptr;
  decltype(&::cuDestroyExternalMemory) destroy_external_memory = nullptr;
  decltype(&::cuMemFree) mem_free = nullptr;
  decltype(&::cuMemGetHandleForAddressRange) get_handle_for_address_range = nullptr;
  std::string missing;  // why a symbol could not be found, for the error message
};

const driver_api& driver() {
  static const driver_api api = [] {
    driver_api a;
    detail::load_driver_function(a.get_error_name, "cuGetErrorName", a.missing);
    detail::load_driver_function(a.device_get, "cuDeviceGet", a.missing);
    detail::load_driver_function(a.device_get_attribute, "cuDeviceGetAttribute", a.missing);
    detail::load_driver_function(a.import_external_memory, "cuImportExternalMemory", a.missing);
    detail::load_driver_function(a.get_mapped_buffer, "cuExternalMemoryGetMappedBuffer", a.missing);
    detail::load_driver_function(a.destroy_external_memory, "cuDestroyExternalMemory", a.missing);
    detail::load_driver_function(a.mem_free, "cuMemFree", a.missing);
    detail::load_driver_function(a.get_handle_for_address_range, "cuMemGetHandleForAddressRange", a.missing);
    return a;
  }();
  return api;
}

using detail::ensure_cuda_context;
using detail::throw_driver_error;

// ---------------------------------------------------------------------------------------------

class host_registration final : public detail::device_attachment {
 public:
  explicit host_registration(registered_region region) : region_(std::move(region)) {}
  void* device_pointer() const noexcept override { return region_.device_pointer(); }

 private:
  registered_region region_;
};

class external_memory final : public detail::device_attachment {
 public:
  external_memory(CUexternalMemory ext, CUdeviceptr ptr, int import_fd, const struct stat& st)
      : ext_(ext), ptr_(ptr), import_fd_(import_fd), dev_(st.st_dev), ino_(st.st_ino) {}
  ~external_memory() override {
    const driver_api& api = driver();
    if (ptr_ != 0) api.mem_free(ptr_);
    api.destroy_external_memory(ext_);
    close_import_fd_if_still_ours(import_fd_, dev_, ino_);
  }
  external_memory(const external_memory&) = delete;
  external_memory& operator=(const external_memory&) = delete;
  void* device_pointer() const noexcept override {
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(ptr_));
  }

  // cuda.h says the driver owns an OPAQUE_FD once the import succeeds and says nothing for
  // DMABUF_FD. The import is therefore given a dedicated duplicate; once the import is gone, if
  // that number still names the same dma-buf the driver did not take it, and it is closed here.
  // Either way the duplicate is released exactly once.
  static void close_import_fd_if_still_ours(int fd, dev_t dev, ino_t ino) noexcept {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) ::close(fd);
  }

 private:
  CUexternalMemory ext_;
  CUdeviceptr ptr_;
  int import_fd_;
  dev_t dev_;
  ino_t ino_;
};

class cuda_backend final : public detail::dmabuf_backend {
 public:
  std::unique_ptr<detail::device_attachment> register_host(void* host, std::size_t bytes, bool read_only,
                                                           const device_profile& profile) const override {
    register_options opts;
    opts.read_only = read_only;
    opts.portable = true;
    return std::make_unique<host_registration>(registered_region(host, bytes, opts, profile));
  }

  std::unique_ptr<detail::device_attachment> import_native(int fd, std::size_t object_bytes, std::size_t bytes,
                                                           const device_profile& profile) const override {
    constexpr const char* who = "unimem::import_dmabuf (native)";
    const driver_api& api = driver();
    if (api.import_external_memory == nullptr || api.get_mapped_buffer == nullptr ||
        api.destroy_external_memory == nullptr || api.mem_free == nullptr) {
      throw unsupported_error(fmt::format(
          "{}: the CUDA driver does not provide the external-memory entry points ({}); update the driver, "
          "or import with dmabuf_path_choice::host_register",
          who, api.missing));
    }
    ensure_cuda_context(who);
    const int import_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (import_fd < 0) {
      throw std::system_error(errno, std::generic_category(), fmt::format("{}: duplicating fd {}", who, fd));
    }
    struct stat st {};
    ::fstat(import_fd, &st);

    CUDA_EXTERNAL_MEMORY_HANDLE_DESC desc{};
    desc.type = static_cast<CUexternalMemoryHandleType>(dmabuf_fd_handle_type);
    desc.handle.fd = import_fd;
    desc.size = object_bytes;
    desc.flags = 0;  // cuda.h: must be zero for DMABUF_FD
    CUexternalMemory ext = nullptr;
    const CUresult r = api.import_external_memory(&ext, &desc);
    if (r != CUDA_SUCCESS) {
      ::close(import_fd);  // not imported, so certainly still ours
      throw_driver_error(
          r, fmt::format("cuImportExternalMemory(fd {}, CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD, {} B)", fd,
                         object_bytes),
          native_dmabuf_import_supported(profile)
              ? "the driver refused this dma-buf; check that it comes from a Tegra exporter (NvBufSurface, "
                "V4L2 on the same SoC) and that the size is the object's size"
              : fmt::format("CUDA imports dma-bufs only on Jetson Thor and {} is not one; import with "
                            "dmabuf_path_choice::automatic (mmap + cudaHostRegister) instead",
                            profile.name));
    }
    CUDA_EXTERNAL_MEMORY_BUFFER_DESC buf{};
    buf.offset = 0;
    buf.size = bytes;
    buf.flags = 0;
    CUdeviceptr ptr = 0;
    const CUresult mr = api.get_mapped_buffer(&ptr, ext, &buf);
    if (mr != CUDA_SUCCESS) {
      api.destroy_external_memory(ext);
      external_memory::close_import_fd_if_still_ours(import_fd, st.st_dev, st.st_ino);
      throw_driver_error(mr, fmt::format("cuExternalMemoryGetMappedBuffer(offset 0, {} B) of fd {}", bytes, fd),
                         "the size must fit the object and suit the exporter's alignment (use whole pages)");
    }
    return std::make_unique<external_memory>(ext, ptr, import_fd, st);
  }
};

}  // namespace

const detail::dmabuf_backend& detail::cuda_dmabuf_backend() noexcept {
  static const cuda_backend backend;
  return backend;
}

unique_fd export_device_dmabuf(const void* device_ptr, std::size_t bytes, const device_profile& profile) {
  constexpr const char* who = "unimem::export_device_dmabuf";
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto addr = reinterpret_cast<std::uintptr_t>(device_ptr);
  if (device_ptr == nullptr || bytes == 0 || addr % page != 0 || bytes % page != 0) {
    throw std::invalid_argument(fmt::format(
        "{}({}, {} B): need a non-null device pointer and a non-zero size, both multiples of the host page size "
        "({} B); cudaMalloc returns suitably aligned pointers, round the size up",
        who, device_ptr, bytes, page));
  }
  const driver_api& api = driver();
  if (api.get_handle_for_address_range == nullptr || api.device_get == nullptr ||
      api.device_get_attribute == nullptr) {
    throw unsupported_error(fmt::format(
        "{}: the CUDA driver does not provide cuMemGetHandleForAddressRange ({}); it needs a CUDA 11.7+ driver",
        who, api.missing));
  }
  ensure_cuda_context(who);
  int ordinal = profile.device;
  if (ordinal < 0) detail::check(cudaGetDevice(&ordinal), "cudaGetDevice");
  CUdevice dev = 0;
  CUresult r = api.device_get(&dev, ordinal);
  if (r != CUDA_SUCCESS) throw_driver_error(r, fmt::format("cuDeviceGet({})", ordinal), {});
  int supported = 0;
  r = api.device_get_attribute(&supported, static_cast<CUdevice_attribute>(dmabuf_supported_attribute), dev);
  if (r != CUDA_SUCCESS || supported == 0) {
    throw unsupported_error(fmt::format(
        "{}: device {} ({}) reports CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED = 0; dma-buf export needs Linux and, "
        "on discrete GPUs, the open GPU kernel modules (r515 or later)",
        who, ordinal, profile.name));
  }
  int fd = -1;
  r = api.get_handle_for_address_range(&fd, static_cast<CUdeviceptr>(addr), bytes, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD,
                                       0);
  if (r != CUDA_SUCCESS) {
    throw_driver_error(r,
                       fmt::format("cuMemGetHandleForAddressRange({}, {} B, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD)",
                                   device_ptr, bytes),
                       "the range must lie inside one allocation made by cudaMalloc/cuMemAlloc");
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return unique_fd(fd);
}

}  // namespace unimem

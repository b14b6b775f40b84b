/// @file dmabuf.hpp
/// @brief dma-buf (and memfd / shared-memory) buffers handed to CUDA without a copy.
///
/// A camera, a video decoder or another process gives you a file descriptor for a buffer.
/// `import_dmabuf(fd, bytes)` makes it reachable from kernels by the best path the device has:
///
/// | path | where | how |
/// |---|---|---|
/// | `native_import` | Jetson Thor (CUDA 13) | `cuImportExternalMemory(CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD)` |
/// | `host_register` | Xavier, Orin, x86 | `mmap` of the fd, then `cudaHostRegister` of the mapping |
/// | `unsupported`   | Nano, TX2 | a clear error naming the alternative (EGLImage) |
///
/// Which path is taken is decided by `plan_dmabuf_import(profile, kind, options)`, a pure function
/// of the device profile and the kind of descriptor, so the choice is unit-tested against every
/// simulated board. CPU access to a real dma-buf is bracketed with `DMA_BUF_IOCTL_SYNC`
/// (`cpu_access_scope`); for a memfd or shared memory there is nothing to synchronise.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <unimem/device_profile.hpp>
#include <unimem/zero_copy/unique_fd.hpp>

namespace unimem {

/// @brief What a file descriptor refers to, as far as importing it is concerned.
enum class fd_kind {
  dma_buf,        ///< a dma-buf (V4L2 export, dma-heap, udmabuf, a GPU or codec export)
  memory_file,    ///< memfd, POSIX shared memory (tmpfs) or hugetlbfs: pageable RAM, no sync ioctl
  regular_file,   ///< a file on a disk file system: mappable, registration may be refused
  not_a_buffer,   ///< a pipe, socket, directory, device node...: nothing to map
};

std::string_view to_string(fd_kind kind) noexcept;

/// @brief What `inspect_fd` found out about a descriptor.
struct fd_facts {
  fd_kind kind = fd_kind::not_a_buffer;
  std::size_t object_bytes = 0;  ///< size of the buffer (valid when size_known)
  bool size_known = false;       ///< false only for a dma-buf whose exporter cannot seek to its end
  bool readable = false;         ///< opened for reading (O_RDONLY or O_RDWR)
  bool writable = false;         ///< opened for writing (O_WRONLY or O_RDWR)
  std::string description;       ///< what /proc/self/fd says, e.g. "/memfd:frames (deleted)"
};

/// @brief Classifies `fd` (fstat, fstatfs, fcntl) without changing it.
/// @throws std::invalid_argument when `fd` is negative or not an open descriptor
fd_facts inspect_fd(int fd);

/// @brief How a buffer reaches the GPU.
enum class dmabuf_path {
  native_import,  ///< CUDA imports the dma-buf itself (external memory)
  host_register,  ///< the CPU maps the fd and CUDA page-locks that mapping (cudaHostRegister)
  unsupported,    ///< no path on this device; the plan's reason names the alternative
};

std::string_view to_string(dmabuf_path path) noexcept;

/// @brief The caller's preference; `automatic` lets the device profile decide.
enum class dmabuf_path_choice { automatic, native_import, host_register };

/// @brief Options of `import_dmabuf`.
struct dmabuf_import_options {
  /// Force a path, e.g. to try the native import on a platform CUDA does not document (tests).
  dmabuf_path_choice path = dmabuf_path_choice::automatic;
  /// Neither side writes: the fd may be O_RDONLY, the mapping is PROT_READ and the registration
  /// is cudaHostRegisterReadOnly (which needs hostRegisterReadOnlySupported).
  bool read_only = false;
  /// On the native path, also map the fd so the CPU can reach the buffer (host_pointer()). The
  /// host_register path always maps.
  bool map_for_cpu = true;
};

/// @brief The decision of `plan_dmabuf_import`.
struct dmabuf_plan {
  dmabuf_path path = dmabuf_path::unsupported;
  bool sync_ioctl = false;   ///< CPU access must be bracketed with DMA_BUF_IOCTL_SYNC (a dma-buf)
  bool cpu_mapping = false;  ///< the fd is mapped into the CPU's address space
  std::string reason;        ///< one line naming the capability that decided it (and the fix)
};

/// @brief True where CUDA documents dma-buf import (cuImportExternalMemory with a DMABUF_FD
/// handle): integrated GPUs from Jetson Thor on (compute capability 10.1 under CUDA 12.8/12.9,
/// 11.0 under CUDA 13).
bool native_dmabuf_import_supported(const device_profile& profile) noexcept;

/// @brief Chooses how a descriptor of kind `kind` reaches the GPU on `profile`. Pure: no system
/// call, no CUDA call.
dmabuf_plan plan_dmabuf_import(const device_profile& profile, fd_kind kind,
                               const dmabuf_import_options& options = {});

/// @brief Direction of a CPU access, for DMA_BUF_IOCTL_SYNC.
enum class cpu_access { read, write, read_write };

/// @brief Brackets CPU access to a dma-buf: DMA_BUF_IOCTL_SYNC START on construction, END on
/// destruction (or end()). Does nothing for descriptors that need no sync (memfd, shm).
class cpu_access_scope {
 public:
  /// @param fd        the dma-buf (not owned; must outlive the scope)
  /// @param access    what the CPU will do
  /// @param sync      false: do nothing (not a dma-buf)
  /// @throws std::system_error when the START ioctl fails
  cpu_access_scope(int fd, cpu_access access, bool sync);
  ~cpu_access_scope();
  cpu_access_scope(cpu_access_scope&& other) noexcept;
  cpu_access_scope& operator=(cpu_access_scope&&) = delete;
  cpu_access_scope(const cpu_access_scope&) = delete;
  cpu_access_scope& operator=(const cpu_access_scope&) = delete;

  /// @brief Ends the access now and reports a failed END ioctl (the destructor cannot).
  /// @throws std::system_error when the END ioctl fails
  void end();

 private:
  int fd_ = -1;
  cpu_access access_ = cpu_access::read;
  bool active_ = false;
};

/// @brief Issues one DMA_BUF_IOCTL_SYNC (START or END) on `fd`, retrying on EINTR/EAGAIN.
/// @throws std::system_error when the kernel refuses (e.g. `fd` is not a dma-buf)
void dmabuf_sync(int fd, cpu_access access, bool start);

/// @brief A CPU mapping of a buffer descriptor: a close-on-exec duplicate of the fd and an
/// mmap(MAP_SHARED) of its first `bytes`, both released in the destructor. No CUDA involved.
class dmabuf_mapping {
 public:
  /// @param fd        the caller's descriptor (duplicated; the caller may close its own)
  /// @param bytes     how much to map, from offset 0; > 0 and at most the object's size
  /// @param read_only map PROT_READ only (an O_RDONLY fd needs this)
  /// @throws std::invalid_argument bad or closed fd, zero bytes, bytes beyond the object, an fd
  ///                               that is not a buffer, a read-only fd mapped for writing
  /// @throws std::system_error     mmap refused (an fd whose driver has no mmap)
  dmabuf_mapping(int fd, std::size_t bytes, bool read_only = false);
  ~dmabuf_mapping();
  dmabuf_mapping(dmabuf_mapping&& other) noexcept;
  dmabuf_mapping& operator=(dmabuf_mapping&& other) noexcept;
  dmabuf_mapping(const dmabuf_mapping&) = delete;
  dmabuf_mapping& operator=(const dmabuf_mapping&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return bytes_; }
  /// @brief The owned duplicate descriptor.
  int fd() const noexcept { return fd_.get(); }
  const fd_facts& facts() const noexcept { return facts_; }
  /// @brief CPU access needs DMA_BUF_IOCTL_SYNC (the fd is a dma-buf).
  bool needs_sync() const noexcept { return facts_.kind == fd_kind::dma_buf; }
  /// @brief Brackets CPU access (a no-op scope for memfd and shared memory).
  cpu_access_scope access(cpu_access what) const { return cpu_access_scope(fd_.get(), what, needs_sync()); }

 private:
  void release() noexcept;

  unique_fd fd_;
  fd_facts facts_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

namespace detail {
class dmabuf_backend;
class device_attachment;
}  // namespace detail

/// @brief A buffer descriptor made reachable from kernels (see the file comment for the paths).
/// Owns its duplicate of the fd, the CPU mapping and the CUDA registration or import; releases
/// them in reverse order. Move-only.
class dmabuf_import {
 public:
  /// @throws see import_dmabuf
  dmabuf_import(int fd, std::size_t bytes, const dmabuf_import_options& options,
                const device_profile& profile);
  /// @brief As above with the CUDA calls replaced (tests drive every path without a GPU).
  dmabuf_import(int fd, std::size_t bytes, const dmabuf_import_options& options,
                const device_profile& profile, const detail::dmabuf_backend& backend);
  ~dmabuf_import();
  dmabuf_import(dmabuf_import&&) noexcept;
  dmabuf_import& operator=(dmabuf_import&&) noexcept;
  dmabuf_import(const dmabuf_import&) = delete;
  dmabuf_import& operator=(const dmabuf_import&) = delete;

  /// @brief The pointer kernels use.
  void* device_pointer() const noexcept;
  /// @brief The CPU mapping, or nullptr on the native path with map_for_cpu = false.
  void* host_pointer() const noexcept { return cpu_ ? cpu_->data() : nullptr; }
  std::size_t size() const noexcept { return bytes_; }
  /// @brief The owned duplicate descriptor.
  int fd() const noexcept { return fd_.get(); }
  const fd_facts& facts() const noexcept { return facts_; }
  const dmabuf_plan& plan() const noexcept { return plan_; }
  dmabuf_path path() const noexcept { return plan_.path; }

  /// @brief Brackets CPU access with DMA_BUF_IOCTL_SYNC where the fd is a dma-buf. Kernels that
  /// touch the buffer must have finished (synchronise their stream) before the scope starts.
  /// @throws std::logic_error when there is no CPU mapping (native path, map_for_cpu = false)
  cpu_access_scope access(cpu_access what) const;

 private:
  unique_fd fd_;
  fd_facts facts_;
  dmabuf_plan plan_;
  std::size_t bytes_ = 0;
  std::optional<dmabuf_mapping> cpu_;
  // Declared last so it is released first: unregister or unimport before unmapping and closing.
  std::unique_ptr<detail::device_attachment> device_;
};

/// @brief Makes the first `bytes` of the buffer behind `fd` reachable from kernels on `profile`'s
/// device, by the path plan_dmabuf_import chooses. The fd is duplicated; the caller keeps its own.
/// @throws std::invalid_argument a bad or closed fd, zero bytes, a size beyond the object, an fd
///                               that is not a buffer, a read-only fd without options.read_only
/// @throws std::system_error     the fd cannot be mapped (its driver has no mmap)
/// @throws unsupported_error     the plan is `unsupported` (the message names the alternative)
/// @throws cuda_error            CUDA refused the registration or the import
inline dmabuf_import import_dmabuf(int fd, std::size_t bytes, const dmabuf_import_options& options = {},
                                   const device_profile& profile = device_profile::current()) {
  return dmabuf_import(fd, bytes, options, profile);
}

// ---------------------------------------------------------------------------------------------
// Sources of buffer descriptors, for tests and for users without a camera driver at hand.

/// @brief Where allocate_dmabuf gets its buffer.
enum class dmabuf_source {
  automatic,  ///< dma_heap, else udmabuf, else memfd
  dma_heap,   ///< /dev/dma_heap/system (DMA_HEAP_IOCTL_ALLOC): a real dma-buf
  udmabuf,    ///< a sealed memfd turned into a dma-buf by /dev/udmabuf (UDMABUF_CREATE)
  memfd,      ///< a plain memfd_create: same mmap path, no DMA_BUF_IOCTL_SYNC
};

std::string_view to_string(dmabuf_source source) noexcept;

/// @brief A freshly allocated buffer descriptor.
struct dmabuf_allocation {
  unique_fd fd;
  std::size_t bytes = 0;  ///< size of the object (dma-heap and udmabuf round up to pages)
  dmabuf_source source = dmabuf_source::memfd;
  std::string note;       ///< for `automatic`: why the earlier sources were passed over
};

/// @brief Allocates a zero-filled buffer of at least `bytes` and returns its descriptor.
/// @param name a label shown in /proc/<pid>/fd (memfd name), for debugging
/// @throws std::invalid_argument zero bytes
/// @throws unsupported_error     an explicitly requested source is missing (e.g. no /dev/udmabuf)
/// @throws std::system_error     the kernel refused the allocation
dmabuf_allocation allocate_dmabuf(std::size_t bytes, dmabuf_source source = dmabuf_source::automatic,
                                  const char* name = "unimem");

/// @brief Exports device memory (from cudaMalloc) as a dma-buf with
/// cuMemGetHandleForAddressRange(CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD), reached through
/// cudaGetDriverEntryPoint so unimem does not link libcuda.
/// @param device_ptr start of the range, aligned to the host page size
/// @param bytes      length, a non-zero multiple of the host page size
/// @throws std::invalid_argument a null or unaligned range
/// @throws unsupported_error     the device reports CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED = 0, or
///                               the driver lacks the entry point
/// @throws cuda_error            the driver refused the export
unique_fd export_device_dmabuf(const void* device_ptr, std::size_t bytes,
                               const device_profile& profile = device_profile::current());

}  // namespace unimem

// dma-buf and memfd buffers: classifying a descriptor, choosing the import path, the CPU mapping
// with DMA_BUF_IOCTL_SYNC, and the import object that owns it all.
#include <unimem/zero_copy/dmabuf.hpp>

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <unimem/zero_copy/detail/dmabuf_backend.hpp>
#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem {

// ---------------------------------------------------------------------------------------------
// Classification

std::string_view to_string(fd_kind kind) noexcept {
  switch (kind) {
    case fd_kind::dma_buf: return "dma-buf";
    case fd_kind::memory_file: return "memory file (memfd or shared memory)";
    case fd_kind::regular_file: return "regular file";
    case fd_kind::not_a_buffer: return "not a buffer";
  }
  return "?";
}

std::string_view to_string(dmabuf_path path) noexcept {
  switch (path) {
    case dmabuf_path::native_import: return "native_import";
    case dmabuf_path::host_register: return "host_register";
    case dmabuf_path::unsupported: return "unsupported";
  }
  return "?";
}

namespace {

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.substr(0, prefix.size()) == prefix;
}

std::string fd_link(int fd) {
  char buf[PATH_MAX] = {};
  const std::string path = fmt::format("/proc/self/fd/{}", fd);
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

// "fd 7 (/memfd:frames (deleted))": what every message calls the caller's descriptor.
std::string describe(int fd, const fd_facts& facts) {
  return facts.description.empty() ? fmt::format("fd {}", fd) : fmt::format("fd {} ({})", fd, facts.description);
}

}  // namespace

fd_facts inspect_fd(int fd) {
  if (fd < 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::inspect_fd({}): not a file descriptor; pass the fd of a dma-buf, memfd or shared-memory object",
        fd));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::inspect_fd({}): fd {} is not open (closed already?); pass an open dma-buf, memfd or "
        "shared-memory descriptor",
        fd, fd));
  }
  fd_facts facts;
  facts.description = fd_link(fd);
  const int mode = flags & O_ACCMODE;
  facts.readable = mode == O_RDONLY || mode == O_RDWR;
  facts.writable = mode == O_WRONLY || mode == O_RDWR;
#ifdef O_PATH
  if ((flags & O_PATH) != 0) {
    // An O_PATH descriptor names a file but cannot be read, written or mapped.
    facts.readable = facts.writable = false;
    facts.kind = fd_kind::not_a_buffer;
    facts.size_known = false;
    return facts;
  }
#endif

  struct statfs fs {};
  const bool have_fs = ::fstatfs(fd, &fs) == 0;
  // Since Linux 5.x dma-bufs live on their own pseudo file system; before that (L4T 32, kernel
  // 4.9) they were anonymous inodes whose link reads "anon_inode:dmabuf".
  const bool is_dmabuf = (have_fs && static_cast<unsigned long>(fs.f_type) == DMA_BUF_MAGIC) ||
                         starts_with(facts.description, "anon_inode:dmabuf") ||
                         starts_with(facts.description, "/dmabuf:");
  if (is_dmabuf) {
    facts.kind = fd_kind::dma_buf;
    // A dma-buf reports its size through llseek(SEEK_END); it has no file position to disturb.
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end >= 0) {
      facts.object_bytes = static_cast<std::size_t>(end);
      facts.size_known = true;
      ::lseek(fd, 0, SEEK_SET);
    }
    return facts;
  }

  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    facts.kind = fd_kind::not_a_buffer;
    facts.size_known = false;
    return facts;
  }
  facts.object_bytes = static_cast<std::size_t>(st.st_size);
  facts.size_known = true;
  const bool memory_fs = have_fs && (static_cast<unsigned long>(fs.f_type) == TMPFS_MAGIC ||
                                     static_cast<unsigned long>(fs.f_type) == HUGETLBFS_MAGIC);
  facts.kind = memory_fs || starts_with(facts.description, "/memfd:") ? fd_kind::memory_file
                                                                       : fd_kind::regular_file;
  return facts;
}

// ---------------------------------------------------------------------------------------------
// The decision

bool native_dmabuf_import_supported(const device_profile& profile) noexcept {
  // cuda.h (CUDA 13): "Importing a dma_buf object is supported only on Tegra Jetson platform
  // starting with Thor series." Thor is 10.1 under CUDA 12.8/12.9 and 11.0 under CUDA 13.
  return profile.integrated && profile.compute_capability() >= 101;
}

dmabuf_plan plan_dmabuf_import(const device_profile& profile, fd_kind kind, const dmabuf_import_options& options) {
  dmabuf_plan plan;
  const std::string cc = fmt::format("{}.{}", profile.cc_major, profile.cc_minor);
  if (kind == fd_kind::not_a_buffer) {
    plan.reason =
        "the descriptor is not a buffer (a pipe, socket, device node, directory or O_PATH fd); pass a "
        "dma-buf, memfd or POSIX shared-memory descriptor";
    return plan;
  }

  const bool native_documented = native_dmabuf_import_supported(profile);
  const bool want_native =
      options.path == dmabuf_path_choice::native_import ||
      (options.path == dmabuf_path_choice::automatic && kind == fd_kind::dma_buf && native_documented);
  if (want_native) {
    if (kind != fd_kind::dma_buf) {
      plan.reason = fmt::format(
          "native import (cuImportExternalMemory, CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD) takes dma-buf "
          "descriptors only and this one is a {}; use dmabuf_path_choice::automatic or host_register",
          to_string(kind));
      return plan;
    }
    plan.path = dmabuf_path::native_import;
    plan.cpu_mapping = options.map_for_cpu;
    plan.sync_ioctl = plan.cpu_mapping;
    plan.reason = native_documented
                      ? fmt::format("{} is an integrated GPU of compute capability {} (Jetson Thor or later): CUDA "
                                    "imports the dma-buf itself (cuImportExternalMemory, DMABUF_FD), no copy and "
                                    "no page-locking",
                                    profile.name, cc)
                      : fmt::format("native import forced on {} (compute capability {}, {}), where CUDA documents "
                                    "dma-buf import only for Jetson Thor; expect the driver to refuse it",
                                    profile.name, cc, profile.integrated ? "integrated" : "discrete");
    return plan;
  }

  // host_register: chosen, or the automatic fallback.
  const bool can_register = profile.host_register_supported && profile.can_map_host_memory;
  if (!can_register) {
    if (kind == fd_kind::dma_buf) {
      plan.reason = fmt::format(
          "{} reports hostRegisterSupported = {} and canMapHostMemory = {} (as Jetson Nano and TX2 do), and "
          "CUDA imports dma-bufs natively only on Jetson Thor: hand the buffer to CUDA through EGL instead "
          "(NvBufSurfaceMapEglImage, or eglCreateImageKHR with EGL_LINUX_DMA_BUF_EXT, then "
          "cuGraphicsEGLRegisterImage)",
          profile.name, int(profile.host_register_supported), int(profile.can_map_host_memory));
    } else {
      plan.reason = fmt::format(
          "{} reports hostRegisterSupported = {} and canMapHostMemory = {} (as Jetson Nano and TX2 do), so "
          "a memfd or shared-memory buffer cannot be registered; allocate the buffer with "
          "unimem::mapped_resource in the process that runs the kernels and write into it there",
          profile.name, int(profile.host_register_supported), int(profile.can_map_host_memory));
    }
    return plan;
  }
  if (options.read_only && !profile.host_register_read_only_supported) {
    plan.reason = fmt::format(
        "a read-only import registers with cudaHostRegisterReadOnly, and {} reports "
        "hostRegisterReadOnlySupported = 0; open the descriptor O_RDWR and import it read-write",
        profile.name);
    return plan;
  }
  plan.path = dmabuf_path::host_register;
  plan.cpu_mapping = true;
  plan.sync_ioctl = kind == fd_kind::dma_buf;
  if (kind == fd_kind::dma_buf) {
    plan.reason = fmt::format(
        "{}{}: the dma-buf is mapped (mmap) and the mapping registered (cudaHostRegister, "
        "hostRegisterSupported = 1); CPU access is bracketed with DMA_BUF_IOCTL_SYNC. If the exporter's "
        "mapping cannot be page-locked, use EGLImage (NvBufSurfaceMapEglImage + cuGraphicsEGLRegisterImage)",
        profile.name,
        options.path == dmabuf_path_choice::host_register
            ? " (host_register chosen by the caller)"
            : " does not import dma-bufs natively (CUDA does that only on Jetson Thor)");
  } else {
    plan.reason = fmt::format(
        "{}: a {} is pageable RAM, so it is mapped (mmap) and the mapping registered (cudaHostRegister, "
        "hostRegisterSupported = 1); no sync ioctl is needed",
        profile.name, to_string(kind));
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// DMA_BUF_IOCTL_SYNC

namespace {

const char* access_name(cpu_access a) noexcept {
  switch (a) {
    case cpu_access::read: return "read";
    case cpu_access::write: return "write";
    case cpu_access::read_write: return "read_write";
  }
  return "?";
}

}  // namespace

void dmabuf_sync(int fd, cpu_access access, bool start) {
  dma_buf_sync sync{};
  sync.flags = start ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END;
  switch (access) {
    case cpu_access::read: sync.flags |= DMA_BUF_SYNC_READ; break;
    case cpu_access::write: sync.flags |= DMA_BUF_SYNC_WRITE; break;
    case cpu_access::read_write: sync.flags |= DMA_BUF_SYNC_RW; break;
  }
  int rc = 0;
  // The kernel returns EINTR or EAGAIN while it waits for the device's fences; both mean "again".
  do {
    rc = ::ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
  } while (rc != 0 && (errno == EINTR || errno == EAGAIN));
  if (rc != 0) {
    const int err = errno;
    throw std::system_error(
        err, std::generic_category(),
        fmt::format("unimem::dmabuf_sync(fd {}, {}, {}): DMA_BUF_IOCTL_SYNC failed{}", fd, start ? "START" : "END",
                    access_name(access),
                    err == ENOTTY || err == EINVAL ? " \u2014 the descriptor is not a dma-buf; memfd and shared "
                                                     "memory need no sync"
                                                   : ""));
  }
}

cpu_access_scope::cpu_access_scope(int fd, cpu_access access, bool sync) : fd_(fd), access_(access) {
  if (sync) {
    dmabuf_sync(fd, access, true);
    active_ = true;
  }
}

cpu_access_scope::~cpu_access_scope() {
  if (active_) {
    try {
      dmabuf_sync(fd_, access_, false);
    } catch (...) {
      // A destructor cannot report; end() exists for callers who want to know.
    }
  }
}

cpu_access_scope::cpu_access_scope(cpu_access_scope&& other) noexcept
    : fd_(other.fd_), access_(other.access_), active_(std::exchange(other.active_, false)) {}

void cpu_access_scope::end() {
  if (active_) {
    active_ = false;
    dmabuf_sync(fd_, access_, false);
  }
}

// ---------------------------------------------------------------------------------------------
// The CPU mapping

namespace {

// The checks shared by dmabuf_mapping and dmabuf_import, before anything is duplicated or mapped.
void check_request(const char* who, int fd, const fd_facts& facts, std::size_t bytes, bool read_only) {
  const std::string what = describe(fd, facts);
  if (bytes == 0) {
    throw std::invalid_argument(fmt::format("{}({}, 0 B): need a non-zero size", who, what));
  }
  if (facts.kind == fd_kind::not_a_buffer) {
    throw std::invalid_argument(fmt::format(
        "{}({}, {} B): the descriptor is not a buffer (a pipe, socket, device node, directory or O_PATH fd); "
        "pass a dma-buf, memfd or POSIX shared-memory descriptor",
        who, what, bytes));
  }
  if (facts.size_known && bytes > facts.object_bytes) {
    throw std::invalid_argument(fmt::format("{}({}, {} B): the {} holds only {} B; ask for at most that{}", who,
                                            what, bytes, to_string(facts.kind), facts.object_bytes,
                                            facts.object_bytes == 0 ? " (was it sized with ftruncate?)" : ""));
  }
  if (!facts.readable) {
    throw std::invalid_argument(fmt::format(
        "{}({}, {} B): the descriptor was opened write-only; mmap needs read access (open it O_RDWR)", who, what,
        bytes));
  }
  if (!read_only && !facts.writable) {
    throw std::invalid_argument(fmt::format(
        "{}({}, {} B): the descriptor was opened read-only; open it O_RDWR, or import it with read_only = true",
        who, what, bytes));
  }
}

}  // namespace

dmabuf_mapping::dmabuf_mapping(int fd, std::size_t bytes, bool read_only) {
  facts_ = inspect_fd(fd);
  check_request("unimem::dmabuf_mapping", fd, facts_, bytes, read_only);
  fd_ = unique_fd::duplicate(fd, "unimem::dmabuf_mapping");
  const int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  void* p = ::mmap(nullptr, bytes, prot, MAP_SHARED, fd_.get(), 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    throw std::system_error(
        err, std::generic_category(),
        fmt::format("unimem::dmabuf_mapping({}, {} B): mmap({}) failed \u2014 {}", describe(fd, facts_), bytes,
                    read_only ? "PROT_READ" : "PROT_READ|PROT_WRITE",
                    err == ENODEV || err == EINVAL || err == EOPNOTSUPP
                        ? "this buffer's exporter does not support CPU mapping; on Jetson hand it to CUDA through "
                          "EGLImage, elsewhere use an exporter that implements mmap (dma-heap, udmabuf)"
                        : err == EACCES || err == EPERM ? "the descriptor's access mode does not allow this mapping"
                                                        : "the system refused the mapping"));
  }
  data_ = p;
  bytes_ = bytes;
}

dmabuf_mapping::~dmabuf_mapping() { release(); }

dmabuf_mapping::dmabuf_mapping(dmabuf_mapping&& other) noexcept
    : fd_(std::move(other.fd_)),
      facts_(std::move(other.facts_)),
      data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

dmabuf_mapping& dmabuf_mapping::operator=(dmabuf_mapping&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::move(other.fd_);
    facts_ = std::move(other.facts_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void dmabuf_mapping::release() noexcept {
  if (data_ != nullptr) {
    ::munmap(data_, bytes_);
    data_ = nullptr;
    bytes_ = 0;
  }
  fd_.reset();
}

// ---------------------------------------------------------------------------------------------
// The import

dmabuf_import::dmabuf_import(int fd, std::size_t bytes, const dmabuf_import_options& options,
                             const device_profile& profile)
    : dmabuf_import(fd, bytes, options, profile, detail::cuda_dmabuf_backend()) {}

dmabuf_import::dmabuf_import(int fd, std::size_t bytes, const dmabuf_import_options& options,
                             const device_profile& profile, const detail::dmabuf_backend& backend) {
  constexpr const char* who = "unimem::import_dmabuf";
  facts_ = inspect_fd(fd);
  check_request(who, fd, facts_, bytes, options.read_only);
  plan_ = plan_dmabuf_import(profile, facts_.kind, options);
  if (plan_.path == dmabuf_path::unsupported) {
    throw unsupported_error(fmt::format("{}({}, {} B): {}", who, describe(fd, facts_), bytes, plan_.reason));
  }
  // Every member below releases itself if a later step throws: nothing leaks on failure.
  fd_ = unique_fd::duplicate(fd, who);
  bytes_ = bytes;
  if (plan_.cpu_mapping) cpu_.emplace(fd_.get(), bytes, options.read_only);

  if (plan_.path == dmabuf_path::host_register) {
    try {
      device_ = backend.register_host(cpu_->data(), bytes, options.read_only, profile);
    } catch (const cuda_error& e) {
      // Keep the registration's own hint (the text after the dash) and add what is specific to
      // dma-bufs.
      const std::string what = e.what();
      const std::string dash = " \u2014 ";
      const std::size_t at = what.find(dash);
      std::string hint = at == std::string::npos ? std::string{} : what.substr(at + dash.size());
      if (facts_.kind == fd_kind::dma_buf) {
        if (!hint.empty()) hint += "; ";
        hint +=
            "a dma-buf whose exporter maps pages without struct page (VM_PFNMAP, e.g. the dma-heap system heap) "
            "cannot be page-locked: on Jetson hand it to CUDA through EGLImage, on Thor use the native import";
      }
      throw cuda_error(fmt::format("{}({}, {} B): {}", who, describe(fd, facts_), bytes, e.call()), e.code(),
                       std::move(hint));
    }
  } else {
    const std::size_t object = facts_.size_known ? facts_.object_bytes : bytes;
    device_ = backend.import_native(fd_.get(), object, bytes, profile);
  }
}

dmabuf_import::~dmabuf_import() = default;
dmabuf_import::dmabuf_import(dmabuf_import&&) noexcept = default;

dmabuf_import& dmabuf_import::operator=(dmabuf_import&& other) noexcept {
  if (this != &other) {
    // Same order as the destructor: detach from the device before unmapping and closing.
    device_.reset();
    cpu_.reset();
    device_ = std::move(other.device_);
    cpu_ = std::move(other.cpu_);
    other.cpu_.reset();
    fd_ = std::move(other.fd_);
    facts_ = std::move(other.facts_);
    plan_ = std::move(other.plan_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void* dmabuf_import::device_pointer() const noexcept { return device_ ? device_->device_pointer() : nullptr; }

cpu_access_scope dmabuf_import::access(cpu_access what) const {
  if (!cpu_) {
    throw std::logic_error(fmt::format(
        "unimem::dmabuf_import::access(fd {}): the buffer was imported without a CPU mapping "
        "(native path, map_for_cpu = false); import it with map_for_cpu = true to touch it from the CPU",
        fd_.get()));
  }
  return cpu_->access(what);
}

}  // namespace unimem

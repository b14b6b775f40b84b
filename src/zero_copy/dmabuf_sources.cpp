// Where buffer descriptors come from when there is no camera driver: the dma-heap, udmabuf over a
// memfd, or a plain memfd.
#include <unimem/zero_copy/dmabuf.hpp>
#include <unimem/error.hpp>

#include <fcntl.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

namespace unimem {
namespace {

constexpr const char* dma_heap_path = "/dev/dma_heap/system";
constexpr const char* udmabuf_path = "/dev/udmabuf";

std::size_t round_to_pages(std::size_t bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (bytes > SIZE_MAX - page) {
    throw std::invalid_argument(fmt::format("unimem::allocate_dmabuf({} B): the size overflows", bytes));
  }
  return (bytes + page - 1) / page * page;
}

// Opening the device is the availability test: a missing node and a permission problem are
// both "not available here", with the reason kept for the note.
unique_fd open_device(const char* path, int flags, std::string& why) {
  const int fd = ::open(path, flags | O_CLOEXEC);
  if (fd < 0) {
    why = fmt::format("{}: {}", path, std::strerror(errno));
    return {};
  }
  return unique_fd(fd);
}

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

unique_fd make_memfd(std::size_t bytes, const char* name, bool sealable) {
  const unsigned flags = MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0u);
  unique_fd fd(::memfd_create(name, flags));
  if (!fd) throw_errno(errno, fmt::format("unimem::allocate_dmabuf: memfd_create(\"{}\")", name));
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
    throw_errno(errno, fmt::format("unimem::allocate_dmabuf: ftruncate(memfd, {} B)", bytes));
  }
  return fd;
}

dmabuf_allocation from_dma_heap(unique_fd heap, std::size_t bytes) {
  const std::size_t len = round_to_pages(bytes);
  dma_heap_allocation_data data{};
  data.len = len;
  data.fd_flags = O_RDWR | O_CLOEXEC;
  data.heap_flags = 0;
  if (::ioctl(heap.get(), DMA_HEAP_IOCTL_ALLOC, &data) != 0) {
    throw_errno(errno, fmt::format("unimem::allocate_dmabuf({} B): DMA_HEAP_IOCTL_ALLOC on {}", len, dma_heap_path));
  }
  dmabuf_allocation a;
  a.fd = unique_fd(static_cast<int>(data.fd));
  a.bytes = len;
  a.source = dmabuf_source::dma_heap;
  return a;
}

dmabuf_allocation from_udmabuf(unique_fd dev, std::size_t bytes, const char* name) {
  const std::size_t len = round_to_pages(bytes);
  // udmabuf insists on a memfd that can no longer shrink, so its pages cannot vanish under the
  // dma-buf; the memfd itself may be closed afterwards (the dma-buf holds the pages).
  unique_fd memfd = make_memfd(len, name, true);
  if (::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    throw_errno(errno, "unimem::allocate_dmabuf: F_ADD_SEALS(F_SEAL_SHRINK) on the memfd for udmabuf");
  }
  udmabuf_create create{};
  create.memfd = static_cast<__u32>(memfd.get());
  create.flags = UDMABUF_FLAGS_CLOEXEC;
  create.offset = 0;
  create.size = len;
  const int fd = ::ioctl(dev.get(), UDMABUF_CREATE, &create);
  if (fd < 0) {
    throw_errno(errno, fmt::format("unimem::allocate_dmabuf({} B): UDMABUF_CREATE on {}", len, udmabuf_path));
  }
  dmabuf_allocation a;
  a.fd = unique_fd(fd);
  a.bytes = len;
  a.source = dmabuf_source::udmabuf;
  return a;
}

}  // namespace

std::string_view to_string(dmabuf_source source) noexcept {
  switch (source) {
    case dmabuf_source::automatic: return "automatic";
    case dmabuf_source::dma_heap: return "dma_heap";
    case dmabuf_source::udmabuf: return "udmabuf";
    case dmabuf_source::memfd: return "memfd";
  }
  return "?";
}

dmabuf_allocation allocate_dmabuf(std::size_t bytes, dmabuf_source source, const char* name) {
  if (bytes == 0) {
    throw std::invalid_argument("unimem::allocate_dmabuf(0 B): need a non-zero size");
  }
  if (name == nullptr) name = "unimem";
  std::string why;
  switch (source) {
    case dmabuf_source::dma_heap: {
      unique_fd heap = open_device(dma_heap_path, O_RDONLY, why);
      if (!heap) {
        throw unsupported_error(fmt::format(
            "unimem::allocate_dmabuf({} B, dma_heap): {} (the kernel needs CONFIG_DMABUF_HEAPS_SYSTEM and read "
            "access to the node); use dmabuf_source::automatic to fall back to udmabuf or a memfd",
            bytes, why));
      }
      return from_dma_heap(std::move(heap), bytes);
    }
    case dmabuf_source::udmabuf: {
      unique_fd dev = open_device(udmabuf_path, O_RDWR, why);
      if (!dev) {
        throw unsupported_error(fmt::format(
            "unimem::allocate_dmabuf({} B, udmabuf): {} (the kernel needs CONFIG_UDMABUF, e.g. modprobe udmabuf, "
            "and access to the node); use dmabuf_source::automatic to fall back to a memfd",
            bytes, why));
      }
      return from_udmabuf(std::move(dev), bytes, name);
    }
    case dmabuf_source::memfd: {
      dmabuf_allocation a;
      a.fd = make_memfd(bytes, name, false);
      a.bytes = bytes;
      a.source = dmabuf_source::memfd;
      return a;
    }
    case dmabuf_source::automatic: break;
  }

  std::string note;
  if (unique_fd heap = open_device(dma_heap_path, O_RDONLY, why)) {
    try {
      return from_dma_heap(std::move(heap), bytes);
    } catch (const std::system_error& e) {
      why = e.what();
    }
  }
  note = why;
  if (unique_fd dev = open_device(udmabuf_path, O_RDWR, why)) {
    try {
      dmabuf_allocation a = from_udmabuf(std::move(dev), bytes, name);
      a.note = note;
      return a;
    } catch (const std::system_error& e) {
      why = e.what();
    }
  }
  note += "; " + why + "; using a memfd (mapped and registered like a dma-buf, without DMA_BUF_IOCTL_SYNC)";
  dmabuf_allocation a;
  a.fd = make_memfd(bytes, name, false);
  a.bytes = bytes;
  a.source = dmabuf_source::memfd;
  a.note = std::move(note);
  return a;
}

}  // namespace unimem

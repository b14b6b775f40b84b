// The per-device policy for virtual ranges and the host range (mmap). The device range is in
// virtual_memory_cuda.cpp.
#include <unimem/resources/virtual_memory.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "resources/virtual_range_base.hpp"

namespace unimem {

virtual_memory_decision decide_virtual_memory(const device_profile& p) {
  virtual_memory_decision d;
  if (p.integrated) {
    d.reason = fmt::format(
        "{}: integrated GPU sharing DRAM with the CPU; large virtual reservations are refused on Tegra "
        "(reported on AGX Orin) and PyTorch disables its expandable segments on Jetson, so pools grow by "
        "chunks and give wholly free chunks back",
        p.name);
    return d;
  }
  if (p.compute_capability() < 60) {
    d.reason = fmt::format("{}: compute capability {}.{} predates CUDA virtual memory management; pools grow by chunks",
                           p.name, p.cc_major, p.cc_minor);
    return d;
  }
  d.use = true;
  // A pool never needs more addresses than the device has memory.
  d.reservation_bytes = p.total_memory_bytes > 0 ? p.total_memory_bytes : std::size_t{16} << 30;
  d.reason = fmt::format(
      "{}: discrete GPU; a pool reserves one range of up to {} and maps 2 MiB pages as its planned region "
      "grows, so its free space is never split across chunks (checked at run time: the driver must report "
      "virtual memory management and grant the reservation, else the pool grows by chunks)",
      p.name, detail::format_bytes(d.reservation_bytes));
  return d;
}

namespace {

class host_range final : public detail::virtual_range_base {
 public:
  host_range(std::size_t reservation, std::size_t granularity) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    granularity_ = granularity == 0 ? page : granularity;
    if (granularity_ % page != 0) {
      throw std::invalid_argument(fmt::format(
          "unimem::make_host_virtual_range(granularity {} B): not a multiple of the page size {} B", granularity_, page));
    }
    capacity_ = (reservation + granularity_ - 1) / granularity_ * granularity_;
    void* p = ::mmap(nullptr, capacity_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              fmt::format("unimem::make_host_virtual_range: mmap of {} B with no access failed; "
                                          "reserve less (ulimit -v may cap the address space)",
                                          capacity_));
    }
    base_ = reinterpret_cast<std::uintptr_t>(p);
  }
  ~host_range() override { ::munmap(reinterpret_cast<void*>(base_), capacity_); }

  resource_traits traits() const noexcept override { return {memory_kind::host, true, false, false}; }

  void resize(std::size_t bytes) override {
    check_resize(bytes, "unimem host virtual range");
    if (bytes > mapped_) {
      if (::mprotect(reinterpret_cast<void*>(base_ + mapped_), bytes - mapped_, PROT_READ | PROT_WRITE) != 0) {
        throw out_of_memory(bytes - mapped_, "unimem host virtual range",
                            fmt::format("mprotect failed: {}", std::generic_category().message(errno)));
      }
    } else if (bytes < mapped_) {
      void* top = reinterpret_cast<void*>(base_ + bytes);
      // Hand the pages back to the kernel and forbid access, as an unmapped device range would.
      ::madvise(top, mapped_ - bytes, MADV_DONTNEED);
      ::mprotect(top, mapped_ - bytes, PROT_NONE);
    }
    mapped_ = bytes;
  }
};

}  // namespace

std::unique_ptr<virtual_range> make_host_virtual_range(std::size_t reservation, std::size_t granularity) {
  return std::make_unique<host_range>(reservation, granularity);
}

}  // namespace unimem

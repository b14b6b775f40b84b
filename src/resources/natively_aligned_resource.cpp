#include <unimem/resources/detail/natively_aligned_resource.hpp>

#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/nvtx_range.hpp"

namespace unimem::detail {

struct over_aligned_table {
  struct raw_block {
    void* ptr;
    std::size_t bytes;
  };
  std::mutex mutex;
  std::unordered_map<void*, raw_block> by_aligned;
};

natively_aligned_resource::natively_aligned_resource(std::size_t native_alignment)
    : native_alignment_(native_alignment), table_(std::make_unique<over_aligned_table>()) {}

natively_aligned_resource::~natively_aligned_resource() = default;

void* natively_aligned_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  nvtx_range range(nvtx_built_in ? allocate_range_name(traits().kind) : "", bytes);
  if (alignment <= native_alignment_) return allocate_native(bytes, stream);

  const std::size_t slack = alignment - native_alignment_;
  if (bytes > std::numeric_limits<std::size_t>::max() - slack) {
    throw out_of_memory(bytes, std::string(name()),
                        fmt::format("{} B plus alignment {} overflows size_t; the request is not satisfiable",
                                    bytes, alignment));
  }
  const std::size_t raw_bytes = bytes + slack;
  void* raw = allocate_native(raw_bytes, stream);
  const auto addr = reinterpret_cast<std::uintptr_t>(raw);
  void* aligned = reinterpret_cast<void*>((addr + alignment - 1) & ~(std::uintptr_t{alignment} - 1));
  try {
    std::lock_guard<std::mutex> lock(table_->mutex);
    table_->by_aligned.emplace(aligned, over_aligned_table::raw_block{raw, raw_bytes});
  } catch (...) {
    deallocate_native(raw, raw_bytes, stream);
    throw;
  }
  return aligned;
}

void natively_aligned_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment,
                                              stream_view stream) {
  nvtx_range range(nvtx_built_in ? deallocate_range_name(traits().kind) : "", bytes);
  if (alignment <= native_alignment_) {
    deallocate_native(p, bytes, stream);
    return;
  }
  over_aligned_table::raw_block raw{};
  {
    std::lock_guard<std::mutex> lock(table_->mutex);
    auto it = table_->by_aligned.find(p);
    if (it == table_->by_aligned.end()) {
      throw std::invalid_argument(fmt::format(
          "{}::deallocate({}, {} B, alignment {}): no live allocation with this alignment starts here; "
          "pass the pointer, size and alignment that allocate() was given",
          name(), p, bytes, alignment));
    }
    raw = it->second;
    table_->by_aligned.erase(it);
  }
  deallocate_native(raw.ptr, raw.bytes, stream);
}

}  // namespace unimem::detail

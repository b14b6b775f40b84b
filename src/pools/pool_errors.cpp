#include "pools/pool_errors.hpp"

#include <cstddef>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem::detail {

void throw_over_maximum(std::size_t bytes, std::size_t alignment, std::size_t maximum_size) {
  throw out_of_memory(bytes, "unimem::pool_resource",
                      fmt::format("{} B at alignment {} exceeds the pool's maximum_size {}; raise maximum_size or "
                                  "split the buffer",
                                  bytes, alignment, format_bytes(maximum_size)));
}

void throw_wrong_size(void* p, std::size_t bytes, std::size_t alignment, std::size_t was_bytes,
                      std::uint8_t was_align_log2) {
  throw std::invalid_argument(fmt::format(
      "unimem::pool_resource::deallocate({}, {} B, alignment {}): this allocation was made with {} B, "
      "alignment {}; pass the size and alignment given to allocate() (nothing was freed)",
      p, bytes, alignment, was_bytes, std::size_t{1} << was_align_log2));
}

void throw_unknown_pointer(void* p, std::size_t bytes, std::size_t alignment, bool inside) {
  throw std::invalid_argument(fmt::format(
      "unimem::pool_resource::deallocate({}, {} B, alignment {}): {}; pass only pointers this pool's allocate() "
      "returned, once each (nothing was freed)",
      p, bytes, alignment,
      inside ? "this address is inside the pool but no live allocation starts there (freed twice, or not the "
               "pointer allocate() returned)"
             : "this pointer was not allocated by this pool"));
}

void refuse_unobtainable(const char* who, const char* option, std::size_t value, const char* what, const char* fix) {
  constexpr auto most = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  if (value > most) {
    throw std::invalid_argument(fmt::format("{}({} {} B): no upstream can give {} that large (more than {} B); {}", who,
                                            option, value, what, most, fix));
  }
}

void throw_broken(const std::string& what) {
  throw std::logic_error("unimem::pool_resource invariant broken: " + what);
}

}  // namespace unimem::detail

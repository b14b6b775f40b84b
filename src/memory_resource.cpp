#include <unimem/memory_resource.hpp>

#include <stdexcept>

#include <fmt/format.h>

namespace unimem {

std::string_view to_string(memory_kind k) noexcept {
  switch (k) {
    case memory_kind::host: return "host";
    case memory_kind::pinned: return "pinned";
    case memory_kind::mapped: return "mapped";
    case memory_kind::registered: return "registered";
    case memory_kind::device: return "device";
    case memory_kind::managed: return "managed";
  }
  return "unknown";
}

void memory_resource::throw_bad_alignment(const char* op, std::size_t bytes, std::size_t alignment) const {
  throw std::invalid_argument(fmt::format(
      "{}::{}({} B, alignment {}): alignment must be a non-zero power of two; pass e.g. {} (the default)",
      name(), op, bytes, alignment, default_alignment));
}

}  // namespace unimem

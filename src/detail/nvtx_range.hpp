// Internal: NVTX ranges around allocations and transfers, so Nsight Systems shows what unimem did
// and how many bytes it moved (the range's payload). Built in only with the CMake option
// UNIMEM_NVTX (which defines UNIMEM_NVTX=1 for the library's sources); otherwise nvtx_range is an
// empty type and every use compiles to nothing. Messages are string literals, so an enabled range
// costs two calls into the NVTX stub and no formatting. Not installed.
#pragma once

#include <cstdint>

#include <unimem/memory_resource.hpp>

#if defined(UNIMEM_NVTX) && UNIMEM_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace unimem::detail {

#if defined(UNIMEM_NVTX) && UNIMEM_NVTX

/// The "unimem" domain, created once; its ranges can be filtered apart from the application's.
inline nvtxDomainHandle_t nvtx_domain() noexcept {
  static const nvtxDomainHandle_t domain = nvtxDomainCreateA("unimem");
  return domain;
}

/// A push/pop range on the calling thread. `message` must be a string literal (it is not copied
/// until the tool reads it); `bytes` becomes the range's payload.
class nvtx_range {
 public:
  nvtx_range(const char* message, std::uint64_t bytes) noexcept {
    nvtxEventAttributes_t a{};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = message;
    a.payloadType = NVTX_PAYLOAD_TYPE_UNSIGNED_INT64;
    a.payload.ullValue = bytes;
    nvtxDomainRangePushEx(nvtx_domain(), &a);
  }
  ~nvtx_range() { nvtxDomainRangePop(nvtx_domain()); }
  nvtx_range(const nvtx_range&) = delete;
  nvtx_range& operator=(const nvtx_range&) = delete;
};

inline constexpr bool nvtx_built_in = true;

#else

class nvtx_range {
 public:
  constexpr nvtx_range(const char*, std::uint64_t) noexcept {}
  nvtx_range(const nvtx_range&) = delete;
  nvtx_range& operator=(const nvtx_range&) = delete;
};

inline constexpr bool nvtx_built_in = false;

#endif

/// Range names of allocations, one literal per memory kind, so Nsight groups them by kind.
/// Call as `nvtx_built_in ? allocate_range_name(traits().kind) : ""` so that a build without NVTX
/// does not even read the traits.
constexpr const char* allocate_range_name(memory_kind k) noexcept {
  switch (k) {
    case memory_kind::host: return "unimem allocate host";
    case memory_kind::pinned: return "unimem allocate pinned";
    case memory_kind::mapped: return "unimem allocate mapped";
    case memory_kind::registered: return "unimem allocate registered";
    case memory_kind::device: return "unimem allocate device";
    case memory_kind::managed: return "unimem allocate managed";
  }
  return "unimem allocate";
}

constexpr const char* deallocate_range_name(memory_kind k) noexcept {
  switch (k) {
    case memory_kind::host: return "unimem deallocate host";
    case memory_kind::pinned: return "unimem deallocate pinned";
    case memory_kind::mapped: return "unimem deallocate mapped";
    case memory_kind::registered: return "unimem deallocate registered";
    case memory_kind::device: return "unimem deallocate device";
    case memory_kind::managed: return "unimem deallocate managed";
  }
  return "unimem deallocate";
}

}  // namespace unimem::detail

#include <unimem/movement/copy.hpp>

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "detail/cuda_check.hpp"
#include "detail/nvtx_range.hpp"

namespace unimem {

std::string_view to_string(side s) noexcept { return s == side::host ? "host" : "device"; }

std::string_view to_string(copy_method m) noexcept {
  switch (m) {
    case copy_method::none: return "none";
    case copy_method::async: return "async";
    case copy_method::pageable: return "pageable";
    case copy_method::host: return "host";
  }
  return "unknown";
}

namespace {

// Which side of a discrete GPU's PCIe link the memory lives on; managed memory lives on both.
enum class home { host, device, both };

home home_of(memory_kind k) {
  switch (k) {
    case memory_kind::device: return home::device;
    case memory_kind::managed: return home::both;
    default: return home::host;
  }
}

// Host memory the CPU sees uncached on an integrated GPU below CC 7.2 (Nano, TX2).
bool uncached_on_cpu(const resource_traits& t, const device_profile& p) {
  return p.integrated && !p.io_coherent() &&
         (t.kind == memory_kind::pinned || t.kind == memory_kind::mapped || t.kind == memory_kind::registered);
}

}  // namespace

copy_plan plan_copy(const resource_traits& src, const resource_traits& dst, side reader, const device_profile& profile) {
  if (reader == side::device && !dst.device_accessible) {
    throw std::invalid_argument(fmt::format(
        "unimem::plan_copy: the reader is the device but the destination is {} memory, which kernels cannot "
        "access; copy into device, managed or mapped memory, or name side::host as the reader",
        to_string(dst.kind)));
  }
  if (reader == side::host && !dst.host_accessible) {
    throw std::invalid_argument(fmt::format(
        "unimem::plan_copy: the reader is the host but the destination is {} memory, which the CPU cannot "
        "access; copy into pinned, managed or host memory, or name side::device as the reader",
        to_string(dst.kind)));
  }
  const bool crosses = home_of(src.kind) != home_of(dst.kind);
  if (profile.integrated && crosses) {
    if (reader == side::device && src.device_accessible && src.device_pointer_is_host_pointer) {
      return {copy_method::none,
              "integrated GPU: one DRAM, and kernels address the source in place; a staging copy would only "
              "spend bandwidth"};
    }
    if (reader == side::host && src.host_accessible && !uncached_on_cpu(src, profile)) {
      return {copy_method::none,
              "integrated GPU: one DRAM, and the CPU reads the source in place, cached; a staging copy would only "
              "spend bandwidth"};
    }
  }
  const bool src_pageable = src.kind == memory_kind::host;
  const bool dst_pageable = dst.kind == memory_kind::host;
  if (src_pageable && dst_pageable) {
    return {copy_method::host, "both sides are pageable host memory that no kernel can touch: std::memcpy"};
  }
  if (src_pageable || dst_pageable) {
    return {copy_method::pageable,
            "one side is pageable memory: the driver stages the copy through a pinned buffer, synchronously and "
            "several times slower (7 vs 55 GB/s on an H200); allocate it from unimem::pinned_resource"};
  }
  return {copy_method::async, "cudaMemcpyAsync on the stream: both sides are page-locked, device or managed memory"};
}

copy_report copy(const destination& dst, const source& src, std::size_t bytes, stream_view stream,
                 const device_profile& profile, cuda_calls& calls) {
  if (bytes == 0) return {copy_method::none, dst.ptr, 0, false, "0 bytes: nothing to copy"};
  if (src.ptr == nullptr) {
    throw std::invalid_argument(fmt::format("unimem::copy({}, nullptr, {}): the source is a null pointer", dst.ptr,
                                            detail::format_bytes(bytes)));
  }
  const copy_plan plan = plan_copy(src.traits, dst.traits, dst.reader, profile);
  if (plan.method == copy_method::none) {
    detail::nvtx_range range("unimem::copy elided", bytes);
    return {copy_method::none, src.ptr, bytes, false, plan.reason};
  }
  if (dst.ptr == nullptr) {
    throw std::invalid_argument(fmt::format(
        "unimem::copy(nullptr, {}, {}): the destination is a null pointer, and the copy ({} to {} memory on {}) "
        "cannot be elided: {}",
        src.ptr, detail::format_bytes(bytes), to_string(src.traits.kind), to_string(dst.traits.kind), profile.name,
        plan.reason));
  }
  const auto s = reinterpret_cast<std::uintptr_t>(src.ptr);
  const auto d = reinterpret_cast<std::uintptr_t>(dst.ptr);
  std::uintptr_t s_end = 0, d_end = 0;
  if (__builtin_add_overflow(s, bytes, &s_end) || __builtin_add_overflow(d, bytes, &d_end)) {
    // No range passes the end of the address space; the overlap test below would wrap.
    throw std::invalid_argument(fmt::format(
        "unimem::copy({}, {}, {}): a range passes the end of the address space; the size is wrong (a negative "
        "value converted to std::size_t?)",
        dst.ptr, src.ptr, detail::format_bytes(bytes)));
  }
  if (s < d_end && d < s_end) {
    throw std::invalid_argument(fmt::format(
        "unimem::copy({}, {}, {}): the ranges overlap, which cudaMemcpyAsync does not allow; copy through a "
        "separate buffer",
        dst.ptr, src.ptr, detail::format_bytes(bytes)));
  }
  switch (plan.method) {
    case copy_method::host: {
      detail::nvtx_range range("unimem::copy host memcpy", bytes);
      std::memcpy(dst.ptr, src.ptr, bytes);
      return {copy_method::host, dst.ptr, bytes, true, plan.reason};
    }
    case copy_method::pageable: {
      detail::nvtx_range range("unimem::copy pageable (synchronous)", bytes);
      calls.memcpy_async(dst.ptr, src.ptr, bytes, stream);
      return {copy_method::pageable, dst.ptr, bytes, true, plan.reason};
    }
    default: {
      detail::nvtx_range range("unimem::copy async", bytes);
      calls.memcpy_async(dst.ptr, src.ptr, bytes, stream);
      return {copy_method::async, dst.ptr, bytes, false, plan.reason};
    }
  }
}

}  // namespace unimem

#include <unimem/movement/prefetch.hpp>

#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/nvtx_range.hpp"

namespace unimem {

std::string_view to_string(prefetch_action a) noexcept {
  switch (a) {
    case prefetch_action::none: return "none";
    case prefetch_action::prefetched: return "prefetched";
    case prefetch_action::attached: return "attached";
    case prefetch_action::attached_and_synchronized: return "attached_and_synchronized";
  }
  return "unknown";
}

namespace {

void require_managed(const device_profile& profile, const char* call) {
  if (!profile.managed_memory) {
    throw unsupported_error(fmt::format(
        "unimem::{}: {} reports managedMemory = 0, so there is no managed memory to move; use "
        "unimem::device_resource with unimem::pinned_resource staging and unimem::copy instead",
        call, profile.name));
  }
}

bool is_set_advice(mem_advice a) {
  return a == mem_advice::set_read_mostly || a == mem_advice::set_preferred_location ||
         a == mem_advice::set_accessed_by;
}

}  // namespace

prefetch_result plan_prefetch(const device_profile& profile, std::size_t bytes, location to) {
  if (bytes == 0) return {prefetch_action::none, "0 bytes: nothing to prefetch"};
  if (profile.concurrent_managed_access) {
    return {prefetch_action::prefetched, "concurrentManagedAccess = 1: cudaMemPrefetchAsync migrates the pages"};
  }
  if (to.is_host()) {
    return {prefetch_action::attached_and_synchronized,
            "concurrentManagedAccess = 0: cudaMemPrefetchAsync is unsupported; attached to the host and the "
            "stream synchronized, so the CPU may touch it even while other kernels run"};
  }
  return {prefetch_action::attached,
          "concurrentManagedAccess = 0: cudaMemPrefetchAsync is unsupported and there is nothing to migrate; "
          "attached globally so kernels on every stream may use it"};
}

prefetch_result prefetch(const void* p, std::size_t bytes, location to, stream_view stream,
                         const device_profile& profile, cuda_calls& calls) {
  if (p == nullptr && bytes != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::prefetch(nullptr, {}, {}): need the managed memory to prefetch, got a null pointer",
        detail::format_bytes(bytes), to_string(to)));
  }
  require_managed(profile, "prefetch");
  const prefetch_result r = plan_prefetch(profile, bytes, to);
  detail::nvtx_range range(to.is_host() ? "unimem::prefetch to host" : "unimem::prefetch to device", bytes);
  // Attaching takes a non-const pointer because it changes the allocation's state, not its bytes.
  void* base = const_cast<void*>(p);
  switch (r.action) {
    case prefetch_action::none: break;
    case prefetch_action::prefetched: calls.mem_prefetch_async(p, bytes, to, stream); break;
    case prefetch_action::attached: calls.stream_attach_mem_async(stream, base, attach_mode::global); break;
    case prefetch_action::attached_and_synchronized:
      calls.stream_attach_mem_async(stream, base, attach_mode::host);
      calls.stream_synchronize(stream);
      break;
  }
  return r;
}

void attach(void* p, attach_mode mode, stream_view stream, const device_profile& profile, cuda_calls& calls) {
  if (p == nullptr) {
    throw std::invalid_argument(fmt::format(
        "unimem::attach(nullptr, {}): need the start of a managed allocation, got a null pointer", to_string(mode)));
  }
  if (mode == attach_mode::single && stream.is_default()) {
    throw std::invalid_argument(fmt::format(
        "unimem::attach({}, single, default stream): CUDA forbids attaching singly to the default stream, "
        "which stands for every stream; pass a stream you created (unimem::cuda_stream), or attach_mode::global",
        p));
  }
  require_managed(profile, "attach");
  detail::nvtx_range range("unimem::attach", 0);
  calls.stream_attach_mem_async(stream, p, mode);
}

std::optional<std::string> advice_refusal(const device_profile& profile, mem_advice advice, location where) {
  if (!profile.managed_memory) {
    return fmt::format("{} reports managedMemory = 0: there is no managed memory to advise", profile.name);
  }
  if (profile.concurrent_managed_access || !is_set_advice(advice)) return std::nullopt;
  const char* why = "";
  switch (advice) {
    case mem_advice::set_read_mostly:
      why = "read duplication needs a GPU with concurrentManagedAccess = 1";
      break;
    case mem_advice::set_preferred_location:
      why = where.is_host() ? "without concurrentManagedAccess the driver never migrates pages, so a preferred "
                              "location changes nothing"
                            : "CUDA accepts a GPU as preferred location only with concurrentManagedAccess = 1";
      break;
    case mem_advice::set_accessed_by:
      why = where.is_host() ? "without concurrentManagedAccess the driver keeps no per-processor mappings to steer"
                            : "CUDA accepts accessed-by for a GPU only with concurrentManagedAccess = 1";
      break;
    default: break;
  }
  return fmt::format(
      "{} reports concurrentManagedAccess = 0 (every Jetson before Thor): cannot honour cudaMemAdvise{} for {}: {}. "
      "Memory is shared DRAM there: attach it to the stream that uses it (unimem::attach) and use "
      "unimem::host_access before the CPU touches it",
      profile.name, to_string(advice), to_string(where), why);
}

bool advise(const void* p, std::size_t bytes, mem_advice advice, location where, const device_profile& profile,
            cuda_calls& calls) {
  if (p == nullptr && bytes != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::advise(nullptr, {}, {}): need the managed memory to advise, got a null pointer",
        detail::format_bytes(bytes), to_string(advice)));
  }
  if (auto refusal = advice_refusal(profile, advice, where)) {
    throw unsupported_error(fmt::format("unimem::advise({}, {}, {}): {}", p, detail::format_bytes(bytes),
                                        to_string(advice), *refusal));
  }
  // Without concurrent managed access nothing can have been set, so an unset has nothing to undo.
  if (!profile.concurrent_managed_access || bytes == 0) return false;
  calls.mem_advise(p, bytes, advice, where);
  return true;
}

}  // namespace unimem

// The C functions PyTorch's CUDAPluggableAllocator loads, and the settings and statistics the
// Python package reads through ctypes.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/torch_allocator.h>

#include "c_api.hpp"
#include "config.hpp"
#include "cuda_device_ops.hpp"
#include "device_pools.hpp"

namespace unimem::torch_allocator {
namespace {

/// Options given through unimem_torch_set_option before the first pool, applied over the
/// environment in the order given.
struct pending_options {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> options;
};

pending_options& pending() {
  static auto* p = new pending_options;  // never destroyed (see the_pools)
  return *p;
}

std::atomic<device_pools*> g_pools{nullptr};
std::atomic<bool> g_stops_at_exit{false};

config effective_config_locked() {
  config c = config_from_environment(process_environment());
  for (const auto& [key, value] : pending().options) set_option(c, key, value);
  return c;
}

/// The allocator's pools, made on first use with the settings then in force. Never destroyed:
/// PyTorch frees cached blocks from its own static destructors and at interpreter exit, after
/// any static object of ours would be gone (a pool destroyed first would report them as leaks
/// and crash on the next free).
device_pools& the_pools() {
  if (device_pools* p = g_pools.load(std::memory_order_acquire)) return *p;
  pending_options& opts = pending();
  const std::lock_guard<std::mutex> lock(opts.mutex);
  if (device_pools* p = g_pools.load(std::memory_order_acquire)) return *p;
  config c = effective_config_locked();
  auto* made = new device_pools(c, make_cuda_device_ops(c.upstream), "PyTorch's allocator");
  g_pools.store(made, std::memory_order_release);
  return *made;
}

void fill(unimem_torch_stats& out, const device_statistics& s, std::size_t skipped) {
  std::memset(&out, 0, sizeof out);
  out.reserved_bytes = s.pool.reserved_bytes;
  out.peak_reserved_bytes = s.pool.peak_reserved_bytes;
  out.live_bytes = s.pool.live_bytes;
  out.live_count = s.pool.live_count;
  out.chunk_count = s.pool.chunk_count;
  out.upstream_allocations = s.pool.upstream_allocations;
  out.upstream_deallocations = s.pool.upstream_deallocations;
  out.plans_built = s.pool.plans_built;
  out.plan_divergences = s.pool.plan_divergences;
  out.plan_active = s.pool.plan_active ? 1 : 0;
  out.requested_bytes = s.requested_bytes;
  out.peak_requested_bytes = s.peak_requested_bytes;
  out.allocations = s.allocations;
  out.deallocations = s.deallocations;
  out.failed_allocations = s.failed_allocations;
  out.failed_deallocations = s.failed_deallocations;
  out.budget_limit = s.budget_limit;
  out.budget_used = s.budget_used;
  out.budget_peak = s.budget_peak;
  out.frees_skipped_at_exit = skipped;
  out.upstream_kind = static_cast<std::int32_t>(s.upstream_kind);
}

void refuse_once_started(const char* call) {
  if (g_pools.load(std::memory_order_acquire) != nullptr) {
    throw std::logic_error(fmt::format(
        "unimem_torch: {}: too late, the allocator already made its first pool (a CUDA tensor exists), so its "
        "settings are fixed; set options before the first CUDA allocation (call "
        "unimem.torch.use_unimem_allocator(...) first thing, or set UNIMEM_TORCH_ variables before starting Python)",
        call));
  }
}

}  // namespace
}  // namespace unimem::torch_allocator

using namespace unimem::torch_allocator;  // NOLINT: the C functions below are this file's API

extern "C" {

UNIMEM_TORCH_API void* unimem_torch_malloc(ssize_t size, int device, CUstream_st* stream) {
  device_pools& pools = the_pools();
  void* p = pools.allocate(static_cast<std::size_t>(size), device, unimem::stream_view{stream});
  if (!g_stops_at_exit.load(std::memory_order_relaxed)) {
    c_api::stop_at_exit(pools);
    g_stops_at_exit.store(true, std::memory_order_relaxed);
  }
  return p;
}

UNIMEM_TORCH_API void unimem_torch_free(void* ptr, ssize_t size, int device, CUstream_st* stream) {
  // Never throws: device_pools::deallocate reports failures instead (PyTorch frees from destructors).
  device_pools* pools = g_pools.load(std::memory_order_acquire);
  if (ptr == nullptr) return;
  if (pools == nullptr) {
    std::fprintf(stderr, "unimem_torch: free(%p) before any allocation: the pointer is not unimem's; ignored\n", ptr);
    return;
  }
  pools->deallocate(ptr, static_cast<std::size_t>(size), device, unimem::stream_view{stream});
}

UNIMEM_TORCH_API int unimem_torch_abi_version(void) { return UNIMEM_TORCH_ABI_VERSION; }

UNIMEM_TORCH_API int unimem_torch_option_count(void) { return static_cast<int>(option_table().size()); }

UNIMEM_TORCH_API int unimem_torch_option(int i, const char** key, const char** variable, const char** values,
                                         const char** meaning) {
  return c_api::guarded([&] {
    const auto& table = option_table();
    if (i < 0 || static_cast<std::size_t>(i) >= table.size()) {
      throw std::out_of_range(fmt::format("unimem_torch_option({}): there are {} options", i, table.size()));
    }
    const option_spec& o = table[static_cast<std::size_t>(i)];
    if (key != nullptr) *key = o.key;
    if (variable != nullptr) *variable = o.variable;
    if (values != nullptr) *values = o.values;
    if (meaning != nullptr) *meaning = o.meaning;
    return 0;
  });
}

UNIMEM_TORCH_API int unimem_torch_set_option(const char* key, const char* value) {
  return c_api::guarded([&] {
    if (key == nullptr || value == nullptr) throw std::invalid_argument("unimem_torch_set_option: null key or value");
    pending_options& opts = pending();
    const std::lock_guard<std::mutex> lock(opts.mutex);
    refuse_once_started("unimem_torch_set_option");
    config probe;  // the value alone must be valid; the environment is checked by config_json
    set_option(probe, key, value);
    opts.options.emplace_back(key, value);
    return 0;
  });
}

UNIMEM_TORCH_API int unimem_torch_clear_options(void) {
  return c_api::guarded([] {
    pending_options& opts = pending();
    const std::lock_guard<std::mutex> lock(opts.mutex);
    refuse_once_started("unimem_torch_clear_options");
    opts.options.clear();
    return 0;
  });
}

UNIMEM_TORCH_API const char* unimem_torch_config_json(void) {
  thread_local std::string json;
  const int rc = c_api::guarded([] {
    if (device_pools* p = g_pools.load(std::memory_order_acquire)) {
      json = to_json(p->settings());
      return 0;
    }
    pending_options& opts = pending();
    const std::lock_guard<std::mutex> lock(opts.mutex);
    json = to_json(effective_config_locked());
    return 0;
  });
  return rc == 0 ? json.c_str() : nullptr;
}

UNIMEM_TORCH_API int unimem_torch_started(void) { return g_pools.load(std::memory_order_acquire) != nullptr ? 1 : 0; }

UNIMEM_TORCH_API int unimem_torch_device_limit(void) { return device_pools::max_devices; }

UNIMEM_TORCH_API int unimem_torch_statistics(int device, unimem_torch_stats* out, size_t out_size) {
  return c_api::guarded([&] {
    if (out == nullptr || out_size != sizeof(unimem_torch_stats)) {
      throw std::invalid_argument(fmt::format(
          "unimem_torch_statistics: the caller's struct has {} bytes, this library's {}: the Python package and "
          "the library are from different versions; reinstall both from one build",
          out_size, sizeof(unimem_torch_stats)));
    }
    std::memset(out, 0, sizeof *out);
    device_pools* p = g_pools.load(std::memory_order_acquire);
    if (p == nullptr) {
      if (device < 0 || device >= device_pools::max_devices) {
        throw std::invalid_argument(fmt::format("unimem_torch_statistics(device {}): out of range", device));
      }
      return 0;
    }
    device_statistics s;
    if (!p->statistics(device, s)) return 0;
    fill(*out, s, p->frees_skipped_at_exit());
    return 1;
  });
}

UNIMEM_TORCH_API int64_t unimem_torch_empty_cache(int device) {
  int64_t released = 0;
  const int rc = c_api::guarded([&] {
    if (device_pools* p = g_pools.load(std::memory_order_acquire)) released = static_cast<int64_t>(p->release(device));
    return 0;
  });
  return rc == 0 ? released : -1;
}

UNIMEM_TORCH_API const char* unimem_torch_last_error(void) { return c_api::last_error(); }

UNIMEM_TORCH_API const char* unimem_memory_kind_name(int kind) {
  switch (kind) {
    case UNIMEM_KIND_HOST: return "host";
    case UNIMEM_KIND_PINNED: return "pinned";
    case UNIMEM_KIND_MAPPED: return "mapped";
    case UNIMEM_KIND_REGISTERED: return "registered";
    case UNIMEM_KIND_DEVICE: return "device";
    case UNIMEM_KIND_MANAGED: return "managed";
    default: return nullptr;
  }
}

}  // extern "C"

// The C enum and unimem::memory_kind must agree: statistics pass the kind as an int.
static_assert(static_cast<int>(unimem::memory_kind::host) == UNIMEM_KIND_HOST);
static_assert(static_cast<int>(unimem::memory_kind::pinned) == UNIMEM_KIND_PINNED);
static_assert(static_cast<int>(unimem::memory_kind::mapped) == UNIMEM_KIND_MAPPED);
static_assert(static_cast<int>(unimem::memory_kind::registered) == UNIMEM_KIND_REGISTERED);
static_assert(static_cast<int>(unimem::memory_kind::device) == UNIMEM_KIND_DEVICE);
static_assert(static_cast<int>(unimem::memory_kind::managed) == UNIMEM_KIND_MANAGED);

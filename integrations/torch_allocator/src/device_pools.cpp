#include "device_pools.hpp"

#include <cstdio>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include <unimem/error.hpp>

namespace unimem::torch_allocator {

device_guard::device_guard(device_ops& ops, int device) : ops_(ops), previous_(ops.current_device()) {
  switched_ = previous_ != device;
  if (switched_) ops_.set_device(device);
}

device_guard::~device_guard() {
  if (!switched_) return;
  try {
    ops_.set_device(previous_);
  } catch (...) {  // nothing sensible to do in a destructor; the next call reports CUDA's state
  }
}

/// One device's pool and what it is built on; declared in destruction order.
struct device_pools::pool_slot {
  std::unique_ptr<memory_resource> upstream;
  std::shared_ptr<memory_budget> budget;
  std::unique_ptr<limiting_resource> limited;
  std::unique_ptr<pool_resource> pool;
  std::unique_ptr<logging_resource> trace;  // UNIMEM_TORCH_TRACE: the pool's calls, written as made
  memory_kind kind = memory_kind::device;
  std::atomic<std::size_t> requested{0};
  std::atomic<std::size_t> peak_requested{0};
  std::atomic<std::size_t> allocations{0};
  std::atomic<std::size_t> deallocations{0};
  std::atomic<std::size_t> failed_allocations{0};
  std::atomic<std::size_t> failed_deallocations{0};

  /// The trace (UNIMEM_TORCH_TRACE) while it is open, else the pool: once the library's exit
  /// handler has closed the trace, calls still served must not fail for its sake.
  memory_resource& top(bool exiting) { return trace && !exiting ? static_cast<memory_resource&>(*trace) : *pool; }
};

device_pools::device_pools(config settings, std::unique_ptr<device_ops> ops, std::string role)
    : settings_(std::move(settings)), ops_(std::move(ops)), role_(std::move(role)) {
  if (!ops_) throw std::invalid_argument("unimem::torch_allocator::device_pools: device_ops is null");
}

device_pools::~device_pools() {
  for (auto& s : slots_) delete s.load(std::memory_order_acquire);
}

void device_pools::check_device(int device, const char* call) {
  if (device < 0 || device >= max_devices) {
    throw std::invalid_argument(fmt::format("unimem_torch: {}(device {}): out of range; devices 0 to {} are served",
                                            call, device, max_devices - 1));
  }
}

device_pools::pool_slot& device_pools::slot_for(int device) {
  if (pool_slot* s = slots_[static_cast<std::size_t>(device)].load(std::memory_order_acquire)) return *s;
  const std::lock_guard<std::mutex> lock(create_mutex_);
  if (pool_slot* s = slots_[static_cast<std::size_t>(device)].load(std::memory_order_acquire)) return *s;
  auto slot = std::make_unique<pool_slot>();
  std::string note;
  slot->upstream = ops_->make_upstream(device, note);
  slot->kind = slot->upstream->traits().kind;
  memory_resource* below = slot->upstream.get();
  if (settings_.budget_bytes != 0) {
    slot->budget = std::make_shared<memory_budget>(fmt::format("UNIMEM_TORCH_BUDGET on device {}", device),
                                                   settings_.budget_bytes);
    slot->limited = std::make_unique<limiting_resource>(*slot->upstream, slot->budget);
    below = slot->limited.get();
  }
  slot->pool = std::make_unique<pool_resource>(*below, settings_.pool());
  if (!settings_.trace.empty() && !exiting()) {  // begin_exit() closes traces under create_mutex_
    const std::string path = trace_path_for(settings_, device);
    try {
      slot->trace = std::make_unique<logging_resource>(*slot->pool, path);
    } catch (const std::exception& e) {  // e names the path
      throw std::runtime_error(fmt::format(
          "unimem_torch: UNIMEM_TORCH_TRACE, device {}: {}; give a writable path or unset it", device, e.what()));
    }
  }
  if (settings_.verbose) {
    std::fprintf(stderr, "unimem_torch: %s, device %d: pool over %s memory (%s); settings %s\n", role_.c_str(),
                 device, std::string(to_string(slot->kind)).c_str(), note.c_str(), to_json(settings_).c_str());
  }
  pool_slot* made = slot.release();
  slots_[static_cast<std::size_t>(device)].store(made, std::memory_order_release);
  return *made;
}

void* device_pools::allocate(std::size_t bytes, int device, stream_view stream) {
  check_device(device, "allocate");
  if (bytes == 0) return nullptr;
  const device_guard guard(*ops_, device);
  pool_slot& s = slot_for(device);
  void* p = nullptr;
  try {
    try {
      p = s.top(exiting()).allocate(bytes, default_alignment, stream);
    } catch (const out_of_memory&) {
      throw;
    } catch (const std::exception&) {
      // The exit handler closed the trace while this call was on its way ("closed", or a write
      // after close; nothing was allocated): served untraced.
      if (!exiting() || !s.trace) throw;
      p = s.pool->allocate(bytes, default_alignment, stream);
    }
  } catch (const out_of_memory& e) {
    s.failed_allocations.fetch_add(1, std::memory_order_relaxed);
    const std::string budget =
        s.budget ? fmt::format("UNIMEM_TORCH_BUDGET is {} B per device, {} B in use; raise or unset it, or ",
                               s.budget->limit(), s.budget->used())
                 : std::string("no budget is set; ");
    throw out_of_memory(bytes, fmt::format("unimem_torch ({}) on device {}", role_, device),
                        fmt::format("{} — {}free tensors, lower the batch size, or call "
                                    "unimem.torch.empty_cache() to return the pool's free chunks",
                                    e.what(), budget));
  } catch (...) {
    s.failed_allocations.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  const std::size_t now = s.requested.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::size_t peak = s.peak_requested.load(std::memory_order_relaxed);
  while (now > peak && !s.peak_requested.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  s.allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void device_pools::begin_exit() noexcept {
  exiting_.store(true, std::memory_order_release);
  // No pool is made while traces close, so none is left with an open (truncated) file.
  const std::lock_guard<std::mutex> lock(create_mutex_);
  for (auto& slot : slots_) {
    pool_slot* s = slot.load(std::memory_order_acquire);
    if (s == nullptr || !s->trace) continue;
    try {
      s->trace->close();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "unimem_torch: UNIMEM_TORCH_TRACE: %s\n", e.what());
    }
  }
}

resource_traits device_pools::traits(int device) {
  check_device(device, "traits");
  const device_guard guard(*ops_, device);
  return slot_for(device).pool->traits();
}

void device_pools::report_failed_free(void* p, std::size_t bytes, int device, const char* what) noexcept {
  if (reports_left_.fetch_sub(1, std::memory_order_relaxed) <= 0) return;
  std::fprintf(stderr,
               "unimem_torch: free(%p, %zu B, device %d) failed: %s; nothing was freed (after 8 reports, failures "
               "are only counted: failed_deallocations in unimem.torch.memory_stats())\n",
               p, bytes, device, what);
}

void device_pools::deallocate(void* p, std::size_t bytes, int device, stream_view stream) noexcept {
  if (p == nullptr) return;
  if (exiting()) {
    // After the library's atexit handler: static destructors (PyTorch's or CUDA's) run now, and
    // the process's memory goes back to the system whatever we do.
    skipped_at_exit_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (device < 0 || device >= max_devices || slots_[static_cast<std::size_t>(device)].load() == nullptr) {
    report_failed_free(p, bytes, device, "no pool ever served this device, so the pointer is not unimem's");
    return;
  }
  pool_slot& s = *slots_[static_cast<std::size_t>(device)].load(std::memory_order_acquire);
  try {
    const device_guard guard(*ops_, device);
    s.top(false).deallocate(p, bytes, default_alignment, stream);
    s.requested.fetch_sub(bytes, std::memory_order_relaxed);
    s.deallocations.fetch_add(1, std::memory_order_relaxed);
  } catch (const std::exception& e) {
    if (ops_->shutting_down(e)) {
      skipped_at_exit_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    s.failed_deallocations.fetch_add(1, std::memory_order_relaxed);
    report_failed_free(p, bytes, device, e.what());
  } catch (...) {
    s.failed_deallocations.fetch_add(1, std::memory_order_relaxed);
    report_failed_free(p, bytes, device, "an unknown exception");
  }
}

bool device_pools::statistics(int device, device_statistics& out) const {
  check_device(device, "statistics");
  out = device_statistics{};
  const pool_slot* s = slots_[static_cast<std::size_t>(device)].load(std::memory_order_acquire);
  if (s == nullptr) return false;
  out.pool = s->pool->statistics();
  out.requested_bytes = s->requested.load(std::memory_order_relaxed);
  out.peak_requested_bytes = s->peak_requested.load(std::memory_order_relaxed);
  out.allocations = s->allocations.load(std::memory_order_relaxed);
  out.deallocations = s->deallocations.load(std::memory_order_relaxed);
  out.failed_allocations = s->failed_allocations.load(std::memory_order_relaxed);
  out.failed_deallocations = s->failed_deallocations.load(std::memory_order_relaxed);
  if (s->budget) {
    out.budget_limit = s->budget->limit();
    out.budget_used = s->budget->used();
    out.budget_peak = s->budget->peak();
  }
  out.upstream_kind = s->kind;
  return true;
}

std::size_t device_pools::release(int device) {
  if (device != -1) check_device(device, "release");
  std::size_t total = 0;
  for (int d = 0; d < max_devices; ++d) {
    if (device != -1 && d != device) continue;
    pool_slot* s = slots_[static_cast<std::size_t>(d)].load(std::memory_order_acquire);
    if (s == nullptr) continue;
    const device_guard guard(*ops_, d);
    total += s->pool->release();
  }
  return total;
}

}  // namespace unimem::torch_allocator

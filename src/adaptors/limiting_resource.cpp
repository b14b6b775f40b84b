#include <unimem/adaptors/limiting_resource.hpp>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "adaptors/live_allocations.hpp"
#include "detail/cuda_check.hpp"

namespace unimem {

memory_budget::memory_budget(std::string name, std::size_t limit_bytes)
    : name_(std::move(name)), limit_(limit_bytes) {}

bool memory_budget::try_charge(std::size_t bytes) noexcept {
  std::size_t used = used_.load(std::memory_order_relaxed);
  do {
    const std::size_t lim = limit_.load(std::memory_order_relaxed);
    if (used > lim || bytes > lim - used) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  const std::size_t now = used + bytes;
  std::size_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  return true;
}

void memory_budget::refund(std::size_t bytes) noexcept {
  // Saturating: a refund of more than is charged (a caller's bug) must not wrap `used` to
  // nearly 2^64, which would refuse every later charge.
  std::size_t used = used_.load(std::memory_order_relaxed);
  while (!used_.compare_exchange_weak(used, used - std::min(used, bytes), std::memory_order_relaxed)) {
  }
}

struct limiting_resource::live_table {
  std::mutex mutex;
  detail::live_allocations<char> live;
};

limiting_resource::limiting_resource(memory_resource& upstream, std::shared_ptr<memory_budget> budget)
    : upstream_(&upstream), budget_(std::move(budget)), live_(std::make_unique<live_table>()) {
  if (!budget_) {
    throw std::invalid_argument(
        "unimem::limiting_resource(upstream, nullptr): needs a budget; make one with "
        "std::make_shared<unimem::memory_budget>(name, limit_bytes)");
  }
}

void* limiting_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  if (!budget_->try_charge(bytes)) {
    const std::size_t used = budget_->used(), limit = budget_->limit();
    throw out_of_memory(bytes, "unimem::limiting_resource",
                        fmt::format("budget \"{}\" allows {}, {} are in use and {} remain; free memory charged to "
                                    "it, lower the request, or raise the limit",
                                    budget_->name(), detail::format_bytes(limit), detail::format_bytes(used),
                                    detail::format_bytes(limit - std::min(limit, used))));
  }
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes, alignment, stream);
  } catch (const out_of_memory& e) {
    budget_->refund(bytes);
    detail::rethrow_out_of_memory(e, "unimem::limiting_resource");
  } catch (...) {
    budget_->refund(bytes);
    throw;
  }
  try {
    std::lock_guard<std::mutex> lock(live_->mutex);
    // An address handed out again was freed straight to the upstream: its charge ends now.
    if (const auto gone = live_->live.add(p, {bytes, alignment, 0})) budget_->refund(gone->bytes);
  } catch (...) {
    upstream_->deallocate(p, bytes, alignment, stream);
    budget_->refund(bytes);
    throw;
  }
  return p;
}

void limiting_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  // Checked before forwarding or refunding: a wrong size would change the shared budget, and
  // the upstream may be malloc, which cannot refuse a foreign pointer.
  live_->live.free_checked(live_->mutex, "unimem::limiting_resource", p, bytes, alignment,
                           [&](const auto&) { upstream_->deallocate(p, bytes, alignment, stream); });
  budget_->refund(bytes);
}

limiting_resource::~limiting_resource() = default;

}  // namespace unimem

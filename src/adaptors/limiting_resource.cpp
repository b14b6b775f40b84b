#include <unimem/adaptors/limiting_resource.hpp>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

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

void memory_budget::refund(std::size_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }

limiting_resource::limiting_resource(memory_resource& upstream, std::shared_ptr<memory_budget> budget)
    : upstream_(&upstream), budget_(std::move(budget)) {
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
  try {
    return upstream_->allocate(bytes, alignment, stream);
  } catch (const out_of_memory& e) {
    budget_->refund(bytes);
    detail::rethrow_out_of_memory(e, "unimem::limiting_resource");
  } catch (...) {
    budget_->refund(bytes);
    throw;
  }
}

void limiting_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  upstream_->deallocate(p, bytes, alignment, stream);
  budget_->refund(bytes);
}

}  // namespace unimem

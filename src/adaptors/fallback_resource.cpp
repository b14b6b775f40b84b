#include <unimem/adaptors/fallback_resource.hpp>

#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "adaptors/live_allocations.hpp"

namespace unimem {

struct fallback_resource::owners {
  std::mutex mutex;
  detail::live_allocations<std::size_t> index;  // pointer -> position in the chain
};

fallback_resource::fallback_resource(std::vector<memory_resource*> chain, exhausted_handler on_exhausted)
    : chain_(std::move(chain)), on_exhausted_(std::move(on_exhausted)), owners_(std::make_unique<owners>()) {
  if (chain_.empty()) {
    throw std::invalid_argument("unimem::fallback_resource({}): needs at least one resource to allocate from");
  }
  for (std::size_t i = 0; i < chain_.size(); ++i) {
    if (chain_[i] == nullptr) {
      throw std::invalid_argument(fmt::format("unimem::fallback_resource: resource {} of the chain is null", i));
    }
  }
  traits_ = chain_[0]->traits();
  for (memory_resource* r : chain_) {
    const resource_traits t = r->traits();
    traits_.host_accessible = traits_.host_accessible && t.host_accessible;
    traits_.device_accessible = traits_.device_accessible && t.device_accessible;
    traits_.device_pointer_is_host_pointer = traits_.device_pointer_is_host_pointer && t.device_pointer_is_host_pointer;
  }
}

fallback_resource::~fallback_resource() = default;

void* fallback_resource::try_chain(std::size_t bytes, std::size_t alignment, stream_view stream,
                                   std::string& refusals) {
  refusals.clear();
  for (std::size_t i = 0; i < chain_.size(); ++i) {
    void* p = nullptr;
    try {
      p = chain_[i]->allocate(bytes, alignment, stream);
    } catch (const out_of_memory& e) {
      refusals += fmt::format("{}[{}] {}", refusals.empty() ? "" : "; ", i, e.what());
      continue;
    }
    try {
      std::lock_guard<std::mutex> lock(owners_->mutex);
      owners_->index.add(p, {bytes, alignment, i});
    } catch (...) {
      chain_[i]->deallocate(p, bytes, alignment, stream);
      throw;
    }
    return p;
  }
  return nullptr;
}

void* fallback_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  std::string refusals;
  if (void* p = try_chain(bytes, alignment, stream, refusals)) return p;
  out_of_memory error(bytes, "unimem::fallback_resource",
                      fmt::format("every resource of the chain refused: {}", refusals));
  if (on_exhausted_ && on_exhausted_(error)) {
    if (void* p = try_chain(bytes, alignment, stream, refusals)) return p;
    throw out_of_memory(bytes, "unimem::fallback_resource",
                        fmt::format("every resource of the chain refused, also after the exhausted handler ran: {}",
                                    refusals));
  }
  throw error;
}

void fallback_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  // The record names the resource that gave the memory; the free goes there.
  owners_->index.free_checked(owners_->mutex, "unimem::fallback_resource", p, bytes, alignment,
                              [&](const auto& r) { chain_[r.datum]->deallocate(p, bytes, alignment, stream); });
}

}  // namespace unimem

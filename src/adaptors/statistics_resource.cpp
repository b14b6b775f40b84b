#include <unimem/adaptors/statistics_resource.hpp>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include <unimem/error.hpp>

#include "adaptors/live_allocations.hpp"
#include "detail/cuda_check.hpp"

namespace unimem {

struct statistics_resource::state {
  std::mutex mutex;
  usage_counters total;
  std::unordered_map<tag_id, usage_counters> tags;
  detail::live_allocations<tag_id> live;  // checks each free; charges it to its allocation's tag
};

namespace {

void add(usage_counters& c, std::size_t bytes) {
  c.current_bytes += bytes;
  c.peak_bytes = std::max(c.peak_bytes, c.current_bytes);
  ++c.current_count;
  c.peak_count = std::max(c.peak_count, c.current_count);
  ++c.total_count;
}

void remove(usage_counters& c, std::size_t bytes) {
  c.current_bytes -= std::min(bytes, c.current_bytes);
  c.current_count -= c.current_count > 0 ? 1 : 0;
}

}  // namespace

statistics_resource::statistics_resource(memory_resource& upstream)
    : upstream_(&upstream), state_(std::make_unique<state>()) {}

statistics_resource::~statistics_resource() = default;

void* statistics_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes, alignment, stream);
  } catch (const out_of_memory& e) {
    detail::rethrow_out_of_memory(e, "unimem::statistics_resource");
  }
  const tag_id tag = current_tag();
  try {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto& tag_counters = state_->tags[tag];
    if (const auto gone = state_->live.add(p, {bytes, alignment, tag})) {
      // Freed straight to the upstream, which handed the address out again: it is not live.
      remove(state_->total, gone->bytes);
      remove(state_->tags[gone->datum], gone->bytes);
    }
    add(state_->total, bytes);
    add(tag_counters, bytes);
  } catch (...) {
    upstream_->deallocate(p, bytes, alignment, stream);
    throw;
  }
  return p;
}

void statistics_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  // Checked here first: the upstream may be malloc, which cannot refuse a foreign pointer.
  const auto r = state_->live.free_checked(state_->mutex, "unimem::statistics_resource", p, bytes, alignment,
                                           [&](const auto&) { upstream_->deallocate(p, bytes, alignment, stream); });
  std::lock_guard<std::mutex> lock(state_->mutex);
  remove(state_->total, bytes);
  remove(state_->tags[r.datum], bytes);
}

usage_counters statistics_resource::totals() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->total;
}

usage_counters statistics_resource::for_tag(tag_id tag) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->tags.find(tag);
  return it == state_->tags.end() ? usage_counters{} : it->second;
}

std::vector<tagged_usage> statistics_resource::by_tag() const {
  std::vector<tagged_usage> out;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (const auto& [tag, c] : state_->tags) out.push_back(tagged_usage{tag, {}, c});
  }
  for (tagged_usage& u : out) u.name = tag_name(u.tag);
  std::sort(out.begin(), out.end(), [](const tagged_usage& x, const tagged_usage& y) {
    return x.usage.current_bytes != y.usage.current_bytes ? x.usage.current_bytes > y.usage.current_bytes
                                                          : x.tag < y.tag;
  });
  return out;
}

void statistics_resource::reset_peaks() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto reset = [](usage_counters& c) {
    c.peak_bytes = c.current_bytes;
    c.peak_count = c.current_count;
  };
  reset(state_->total);
  for (auto& [tag, c] : state_->tags) reset(c);
}

}  // namespace unimem

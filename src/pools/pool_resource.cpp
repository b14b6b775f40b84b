// pool_resource: the public face of four pieces (see docs/pools.md):
//   - the free-block index (pool_detail.hpp: tlsf_index, ordered_index),
//   - stream ordering (stream_free_index.hpp over stream_slots.hpp),
//   - the growth and release policy (growth_policy.hpp),
//   - iteration learning (iteration_learner.{hpp,cpp}),
// joined by the general allocator (general_allocator.{hpp,cpp}). This file holds the lock, the
// live counts, the checks of every deallocate, statistics and leak reports.
#include <unimem/pools/pool_resource.hpp>

#include <mutex>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include <unimem/device_profile.hpp>
#include <unimem/resources/device_resource.hpp>

#include "pools/general_allocator.hpp"
#include "pools/iteration_learner.hpp"
#include "pools/optional_lock.hpp"
#include "pools/pool_errors.hpp"

namespace unimem {
namespace detail {

/// What pool_resource forwards to; one implementation per free-block index.
class pool_core {
 public:
  virtual ~pool_core() = default;
  virtual void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream) = 0;
  virtual void deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) = 0;
  virtual std::size_t release() = 0;
  virtual std::size_t trim(std::size_t target) = 0;
  virtual pool_statistics statistics() const = 0;
  virtual std::vector<tag_usage> live_by_tag() const = 0;
};

namespace {

std::uint8_t log2_of(std::size_t pow2) noexcept { return static_cast<std::uint8_t>(__builtin_ctzll(pow2)); }

region_use region_use_of(placement_advice::where w) noexcept {
  switch (w) {
    case placement_advice::where::outside_region:
      return region_use::avoided;
    case placement_advice::where::unplanned:
      return region_use::released_when_idle;
    default:
      return region_use::allowed;
  }
}

pool_options checked_options(pool_options o) {
  if (o.region_range != nullptr && o.region_range->granularity() % pool_granule != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::pool_resource(region_range with granularity {} B): not a multiple of {} B; give a range "
        "mapped in whole pages",
        o.region_range->granularity(), pool_granule));
  }
  // Above PTRDIFF_MAX, rounding to the pool's granule would also wrap to a chunk of nothing.
  refuse_unobtainable("unimem::pool_resource", "initial_size", o.initial_size, "a chunk",
                      "pass 0 to grow on demand, or the bytes the workload needs");
  refuse_unobtainable("unimem::pool_resource", "growth_step", o.growth_step, "a chunk",
                      "pass 0 for adaptive growth, or the bytes to take at a time");
  if (o.initial_size > o.maximum_size) {
    throw std::invalid_argument(fmt::format(
        "unimem::pool_resource(initial_size {} B, maximum_size {} B): the initial size exceeds the maximum; "
        "raise maximum_size or lower initial_size",
        o.initial_size, o.maximum_size));
  }
  return o;
}

/// Growing by exactly what is asked is the learner's way to keep unplanned iterations at their
/// live peak; a pool with its own growth step or initial size grows as told.
bool frugal_allowed(const pool_options& o) noexcept {
  return o.learn_iterations && o.initial_size == 0 && o.growth_step == 0;
}

template <class Index>
class pool_impl final : public pool_core {
 public:
  pool_impl(memory_resource& upstream, pool_options options, bool device_accessible)
      : opts_(checked_options(std::move(options))),
        events_(opts_.events ? opts_.events : (device_accessible ? make_cuda_event_source() : nullptr)),
        upstream_(upstream),
        growth_(opts_.growth_step, opts_.maximum_size, frugal_allowed(opts_)),
        range_(opts_.region_range),
        general_(upstream_, growth_, opts_.maximum_size, events_.get(), range_.get()),
        learner_({opts_.learn_iterations, opts_.max_learned_calls, frugal_allowed(opts_)}, general_, growth_),
        mutex_(opts_.thread_safe ? std::make_unique<std::mutex>() : nullptr) {
    if (opts_.initial_size > 0) general_.reserve(opts_.initial_size);
  }

  ~pool_impl() override {
    if (live_.count > 0) report_live_allocations();
  }

  void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override {
    optional_lock lock(mutex_.get());
    const std::uint32_t s = general_.slot_for(stream);
    const placement_advice advice = learner_.advise(bytes, log2_of(alignment), s);
    pool_block* b = nullptr;
    if (advice.kind == placement_advice::where::at_offset) b = general_.place_at(advice.offset, bytes, alignment, s);
    if (b == nullptr) {
      b = general_.allocate(bytes, alignment, stream, s, region_use_of(advice.kind), live_.bytes);
    }
    live_.bytes += bytes;
    ++live_.count;
    learner_.on_allocate(b, s, live_.count);
    if (opts_.checked) verify();
    return reinterpret_cast<void*>(b->addr);
  }

  void deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override {
    optional_lock lock(mutex_.get());
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    pool_block* b = general_.find_used(addr);
    if (b == nullptr) throw_unknown_pointer(p, bytes, alignment, general_.contains(addr));
    if (b->requested != bytes || b->align_log2 != log2_of(alignment)) {
      throw_wrong_size(p, bytes, alignment, b->requested, b->align_log2);
    }
    const std::uint64_t seq = b->seq;
    const std::uint32_t s = general_.slot_for(stream);
    general_.free(b, s);
    live_.bytes -= bytes;
    --live_.count;
    learner_.on_free(seq, s, live_.count);
    if (opts_.checked) verify();
  }

  std::size_t release() override {
    optional_lock lock(mutex_.get());
    return general_.release_free_chunks(general_allocator<Index>::everything, 0, true);
  }

  std::size_t trim(std::size_t target) override {
    optional_lock lock(mutex_.get());
    return general_.release_free_chunks(target, 0, true);
  }

  pool_statistics statistics() const override {
    optional_lock lock(mutex_.get());
    pool_statistics s;
    s.reserved_bytes = upstream_.reserved();
    s.peak_reserved_bytes = upstream_.peak();
    s.live_bytes = live_.bytes;
    s.live_count = live_.count;
    s.chunk_count = general_.chunk_count();
    s.upstream_allocations = upstream_.allocations();
    s.upstream_deallocations = upstream_.deallocations();
    s.release_rounds = upstream_.release_rounds();
    s.plan_active = learner_.serving();
    s.plans_built = learner_.plans_built();
    s.plan_divergences = learner_.divergences();
    s.stream_waits = general_.stream_waits();
    return s;
  }

  std::vector<tag_usage> live_by_tag() const override {
    optional_lock lock(mutex_.get());
    return collect_by_tag();
  }

 private:
  std::vector<tag_usage> collect_by_tag() const {
    tag_tally tally;
    general_.tally(tally);
    return tally.rows();
  }

  void report_live_allocations() noexcept {
    leak_report r;
    r.resource = "unimem::pool_resource";
    r.bytes = live_.bytes;
    r.count = live_.count;
    try {
      r.by_tag = collect_by_tag();
    } catch (...) {
    }
    report_leaks(r, opts_.on_leak);
  }

  /// Checked mode: every block of every chunk, the indexes and the counts agree.
  void verify() const {
    const std::size_t reserved = general_.verify();
    if (reserved != upstream_.reserved()) {
      throw_broken(fmt::format("reserved {} but chunks sum to {}", upstream_.reserved(), reserved));
    }
    if (general_.used_blocks() != live_.count) {
      throw_broken("live count disagrees with the blocks");
    }
  }

  pool_options opts_;
  std::shared_ptr<stream_event_source> events_;
  upstream_account upstream_;
  growth_policy growth_;
  std::shared_ptr<virtual_range> range_;
  struct {
    std::size_t bytes = 0;
    std::size_t count = 0;
  } live_;
  general_allocator<Index> general_;
  iteration_learner learner_;
  std::unique_ptr<std::mutex> mutex_;
};

}  // namespace
}  // namespace detail

namespace {

/// The default region range: over plain device memory, where the device's profile says so and the
/// driver grants a reservation; none elsewhere, or when anything on the way fails.
std::shared_ptr<virtual_range> default_range(memory_resource& upstream) noexcept {
  if (dynamic_cast<device_resource*>(&upstream) == nullptr) return nullptr;
  try {
    const device_profile p = device_profile::current();
    const virtual_memory_decision d = decide_virtual_memory(p);
    if (d.use) return make_device_virtual_range(p.device, d.reservation_bytes);
  } catch (...) {
    // No range: the pool grows by chunks, as on every board where the policy says no.
  }
  return nullptr;
}

}  // namespace

pool_resource::pool_resource(memory_resource& upstream, pool_options options)
    : upstream_(&upstream), traits_(upstream.traits()) {
  const bool device = traits_.device_accessible;
  if (options.region_range == nullptr && options.virtual_memory) options.region_range = default_range(upstream);
  if (options.region_range != nullptr) {
    const resource_traits r = options.region_range->traits();
    if (r.host_accessible != traits_.host_accessible || r.device_accessible != traits_.device_accessible) {
      throw std::invalid_argument(fmt::format(
          "unimem::pool_resource(upstream {}, region_range): the range's memory is {}-accessible but the "
          "upstream's is {}-accessible; give a range of the same kind of memory",
          upstream.name(), r.device_accessible ? "device" : "host", traits_.device_accessible ? "device" : "host"));
    }
  }
  if (options.fit == fit_strategy::ordered_best_fit) {
    core_ = std::make_unique<detail::pool_impl<detail::ordered_index>>(upstream, std::move(options), device);
  } else {
    core_ = std::make_unique<detail::pool_impl<detail::tlsf_index>>(upstream, std::move(options), device);
  }
}

pool_resource::~pool_resource() = default;

std::size_t pool_resource::release() { return core_->release(); }
std::size_t pool_resource::trim(std::size_t target_bytes) { return core_->trim(target_bytes); }
pool_statistics pool_resource::statistics() const { return core_->statistics(); }
std::vector<tag_usage> pool_resource::live_by_tag() const { return core_->live_by_tag(); }

void* pool_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  return core_->allocate(bytes, alignment, stream);
}

void pool_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  core_->deallocate(p, bytes, alignment, stream);
}

}  // namespace unimem

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

pool_options checked_options(pool_options o) {
  if (o.initial_size > o.maximum_size) {
    throw std::invalid_argument(fmt::format(
        "unimem::pool_resource(initial_size {} B, maximum_size {} B): the initial size exceeds the maximum; "
        "raise maximum_size or lower initial_size",
        o.initial_size, o.maximum_size));
  }
  return o;
}

template <class Index>
class pool_impl final : public pool_core {
 public:
  pool_impl(memory_resource& upstream, pool_options options, bool device_accessible)
      : opts_(checked_options(std::move(options))),
        events_(opts_.events ? opts_.events : (device_accessible ? make_cuda_event_source() : nullptr)),
        upstream_(upstream),
        growth_(opts_.growth_step, opts_.maximum_size,
                opts_.learn_iterations && opts_.initial_size == 0 && opts_.growth_step == 0),
        general_(upstream_, growth_, opts_.maximum_size, events_.get()),
        learner_({opts_.learn_iterations, opts_.max_learned_calls}, upstream_, general_, growth_, live_),
        mutex_(opts_.thread_safe ? std::make_unique<std::mutex>() : nullptr) {
    if (opts_.initial_size > 0) general_.reserve(opts_.initial_size);
  }

  ~pool_impl() override {
    if (live_.count > 0) report_live_allocations();
  }

  void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override {
    optional_lock lock(mutex_.get());
    void* p = learner_.following() ? learner_.allocate(bytes, alignment, stream) : nullptr;
    if (p == nullptr) {
      pool_block* b = general_.allocate(bytes, alignment, stream, live_.bytes);
      live_.bytes += bytes;
      ++live_.count;
      learner_.on_general_allocate(b, stream);
      p = reinterpret_cast<void*>(b->addr);
    }
    if (opts_.checked) verify();
    return p;
  }

  void deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override {
    optional_lock lock(mutex_.get());
    if (!learner_.following() || !learner_.deallocate(p, bytes, alignment, stream)) {
      general_deallocate(p, bytes, alignment, stream);
    }
    if (opts_.checked) verify();
  }

  std::size_t release() override {
    optional_lock lock(mutex_.get());
    const std::size_t freed = learner_.release();
    return freed + general_.release_free_chunks(general_allocator<Index>::everything, 0);
  }

  std::size_t trim(std::size_t target) override {
    optional_lock lock(mutex_.get());
    return general_.release_free_chunks(target, 0);
  }

  pool_statistics statistics() const override {
    optional_lock lock(mutex_.get());
    pool_statistics s;
    s.reserved_bytes = upstream_.reserved();
    s.peak_reserved_bytes = upstream_.peak();
    s.live_bytes = live_.bytes;
    s.live_count = live_.count;
    s.chunk_count = general_.chunk_count() + (learner_.has_region() ? 1 : 0);
    s.upstream_allocations = upstream_.allocations();
    s.upstream_deallocations = upstream_.deallocations();
    s.plan_active = learner_.following();
    s.plans_built = learner_.plans_built();
    s.plan_divergences = learner_.divergences();
    return s;
  }

  std::vector<tag_usage> live_by_tag() const override {
    optional_lock lock(mutex_.get());
    return collect_by_tag();
  }

 private:
  void general_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    pool_block* b = general_.find_used(addr);
    if (b == nullptr) throw_unknown_pointer(p, bytes, alignment, general_.contains(addr) || learner_.in_region(addr));
    if (b->requested != bytes || b->align_log2 != log2_of(alignment)) {
      throw_wrong_size(p, bytes, alignment, b->requested, b->align_log2);
    }
    const std::uint32_t rec_index = b->rec_index;
    general_.free(b, stream);
    live_.bytes -= bytes;
    --live_.count;
    learner_.on_general_free(rec_index, stream);
    if (live_.count == 0) learner_.on_empty();
  }

  std::vector<tag_usage> collect_by_tag() const {
    tag_tally tally;
    general_.tally(tally);
    learner_.tally(tally);
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
    learner_.verify();
    const std::size_t reserved = general_.verify() + learner_.region_bytes();
    if (reserved != upstream_.reserved()) {
      throw_broken(fmt::format("reserved {} but chunks sum to {}", upstream_.reserved(), reserved));
    }
    if (general_.used_blocks() + learner_.live_planned() != live_.count) {
      throw_broken("live count disagrees with the blocks");
    }
  }

  pool_options opts_;
  std::shared_ptr<stream_event_source> events_;
  upstream_account upstream_;
  growth_policy growth_;
  live_totals live_;
  general_allocator<Index> general_;
  iteration_learner learner_;
  std::unique_ptr<std::mutex> mutex_;
};

}  // namespace
}  // namespace detail

pool_resource::pool_resource(memory_resource& upstream, pool_options options)
    : upstream_(&upstream), traits_(upstream.traits()) {
  const bool device = traits_.device_accessible;
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

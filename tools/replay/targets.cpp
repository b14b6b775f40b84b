// The resources unimem-replay knows. The CUDA peers (cub, cudaMemPool) are in peers.cu.
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unimem/resources/device_resource.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/adaptors/statistics_resource.hpp>
#include <unimem/stream_events.hpp>
#include <unimem/resources/virtual_memory.hpp>

#include "peers.hpp"
#include "replay_core.hpp"

namespace unimem::replay {
namespace {

/// unimem's pool over `Upstream`; the upstream is wrapped in a statistics adaptor, whose peak is
/// the pool's peak reserved memory.
template <class Upstream>
class pool_instance final : public replay_instance {
 public:
  /// @param own_peak the pool's own count of peak reserved bytes (its region may live in a
  ///        virtual range, which the adaptor under the pool does not see)
  explicit pool_instance(pool_options o, bool own_peak = false)
      : own_peak_(own_peak), stats_(upstream_), pool_(stats_, std::move(o)) {}
  void finish() override {
    // Upstream calls per pass: in steady state (the plans learned) the last passes make none.
    const pool_statistics s = pool_.statistics();
    const std::size_t calls = s.upstream_allocations + s.upstream_deallocations;
    per_pass_.push_back(calls - calls_before_);
    calls_before_ = calls;
  }
  void cold_slice_done() override {
    // The cold pass is the process the trace was recorded from: how its upstream calls spread
    // over it (warm-up at the start, churn later) is what costs wall time on a GPU.
    const pool_statistics s = pool_.statistics();
    const std::size_t calls = s.upstream_allocations + s.upstream_deallocations;
    per_slice_.push_back(calls - slice_before_);
    slice_before_ = calls;
    if (per_slice_.size() == static_cast<std::size_t>(cold_slices)) {
      first_pass_allocations_ = s.upstream_allocations;
      first_pass_deallocations_ = s.upstream_deallocations;
      first_pass_rounds_ = s.release_rounds;
    }
  }
  memory_resource& resource() override { return pool_; }
  std::size_t peak_reserved_bytes() override {
    return own_peak_ ? pool_.statistics().peak_reserved_bytes : stats_.totals().peak_bytes;
  }
  std::string extra_json() override {
    const pool_statistics s = pool_.statistics();
    return fmt::format(
        "\"upstream_calls\": {}, \"upstream_calls_last_pass\": {}, \"upstream_calls_per_pass\": [{}], "
        "\"first_pass_upstream_allocations\": {}, \"first_pass_upstream_deallocations\": {}, "
        "\"first_pass_release_rounds\": {}, \"first_pass_upstream_calls_by_tenth\": [{}], \"chunks\": {}, "
        "\"plans_built\": {}, \"plan_divergences\": {}, \"stream_waits\": {}",
        s.upstream_allocations + s.upstream_deallocations, per_pass_.empty() ? 0 : per_pass_.back(),
        fmt::join(per_pass_, ", "), first_pass_allocations_, first_pass_deallocations_, first_pass_rounds_,
        fmt::join(per_slice_, ", "),
        s.chunk_count, s.plans_built, s.plan_divergences, s.stream_waits);
  }

 private:
  std::size_t calls_before_ = 0;
  std::vector<std::size_t> per_pass_;
  std::size_t slice_before_ = 0;
  std::vector<std::size_t> per_slice_;
  std::size_t first_pass_allocations_ = 0;
  std::size_t first_pass_deallocations_ = 0;
  std::size_t first_pass_rounds_ = 0;
  bool own_peak_;
  Upstream upstream_;
  statistics_resource stats_;
  pool_resource pool_;
};

/// A resource without a cache: what it holds is what is live (reported as such, not measured,
/// so that no counting adaptor slows its calls down).
template <class R>
class direct_instance final : public replay_instance {
 public:
  memory_resource& resource() override { return r_; }
  std::size_t peak_reserved_bytes() override { return 0; }
  std::string extra_json() override { return "\"reserved_is_live\": true"; }

 private:
  R r_;
};

/// Stream events over host memory, for replaying the pool's stream-ordered paths without a GPU:
/// an event completes once it has been queried `lag` times (the device running behind the host),
/// a wait costs nothing (the host-side streams are fake). Counts waits.
class lagging_event_source final : public stream_event_source {
 public:
  explicit lagging_event_source(unsigned lag) : lag_(lag) {}
  token record(stream_view) override {
    if (!free_.empty()) {
      const token t = free_.back();
      free_.pop_back();
      left_[t] = lag_;
      return t;
    }
    left_.push_back(lag_);
    return static_cast<token>(left_.size() - 1);
  }
  bool ready(token t) override {
    if (left_[t] == 0) return true;
    --left_[t];
    return false;
  }
  void synchronize(token t) override { left_[t] = 0; }
  void wait(stream_view, token) override {}
  void release(token t) noexcept override { free_.push_back(t); }

 private:
  unsigned lag_;
  std::vector<unsigned> left_;
  std::vector<token> free_;
};

pool_options stream_ordered(unsigned lag) {
  pool_options o;
  o.events = std::make_shared<lagging_event_source>(lag);
  return o;
}

/// A host virtual range with the device's mapping unit (2 MiB), to replay the pool's in-place
/// region growth on the CPU as it runs over CUDA virtual memory on a discrete GPU.
pool_options host_range() {
  pool_options o;
  o.region_range = make_host_virtual_range(std::size_t{64} << 30, std::size_t{2} << 20);
  return o;
}

pool_options general_only(fit_strategy fit) {
  pool_options o;
  o.learn_iterations = false;
  o.fit = fit;
  return o;
}

}  // namespace

std::vector<replay_target> all_targets() {
  std::vector<replay_target> t;
  auto pool = [&](std::string name, std::string what, bool gpu, auto make) {
    t.push_back(replay_target{std::move(name), std::move(what), gpu, std::move(make)});
  };
  pool("pool_host", "unimem::pool_resource over host memory, default settings", false,
       [] { return std::make_unique<pool_instance<host_resource>>(pool_options{}); });
  pool("pool_host_general", "unimem::pool_resource over host memory, iteration learning off (TLSF alone)", false,
       [] { return std::make_unique<pool_instance<host_resource>>(general_only(fit_strategy::tlsf)); });
  pool("pool_host_best_fit", "unimem::pool_resource over host memory, learning off, ordered best fit", false,
       [] { return std::make_unique<pool_instance<host_resource>>(general_only(fit_strategy::ordered_best_fit)); });
  pool("pool_host_streams",
       "unimem::pool_resource over host memory, default settings, stream-ordered with simulated events (each "
       "completes after 4 queries; the trace's streams are told apart)",
       false, [] { return std::make_unique<pool_instance<host_resource>>(stream_ordered(4)); });
  pool("pool_host_range",
       "unimem::pool_resource over host memory, default settings, its region grown in place in a host virtual "
       "range with 2 MiB pages (what a pool over device memory does with CUDA virtual memory)",
       false, [] { return std::make_unique<pool_instance<host_resource>>(host_range(), true); });
  pool("malloc", "posix_memalign / free (unimem::host_resource), no pool", false,
       [] { return std::make_unique<direct_instance<host_resource>>(); });
  pool("pool_device", "unimem::pool_resource over device memory (cudaMalloc), default settings", true,
       [] { return std::make_unique<pool_instance<device_resource>>(pool_options{}); });
  pool("pool_device_general", "unimem::pool_resource over device memory, iteration learning off", true,
       [] { return std::make_unique<pool_instance<device_resource>>(general_only(fit_strategy::tlsf)); });
  pool("pool_pinned", "unimem::pool_resource over pinned host memory (cudaHostAlloc), default settings", true,
       [] { return std::make_unique<pool_instance<pinned_resource>>(pool_options{}); });
  add_cuda_peers(t);
  pool("cuda_malloc", "cudaMalloc / cudaFree, no pool (reserved = live)", true,
       [] { return std::make_unique<direct_instance<device_resource>>(); });
  return t;
}

}  // namespace unimem::replay

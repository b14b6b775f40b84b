// The resources unimem-replay knows. The CUDA peers (cub, cudaMemPool) are in peers.cu.
#include <fmt/format.h>

#include <unimem/resources/device_resource.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/adaptors/statistics_resource.hpp>

#include "peers.hpp"
#include "replay_core.hpp"

namespace unimem::replay {
namespace {

/// unimem's pool over `Upstream`; the upstream is wrapped in a statistics adaptor, whose peak is
/// the pool's peak reserved memory.
template <class Upstream>
class pool_instance final : public replay_instance {
 public:
  explicit pool_instance(pool_options o) : stats_(upstream_), pool_(stats_, std::move(o)) {}
  memory_resource& resource() override { return pool_; }
  std::size_t peak_reserved_bytes() override { return stats_.totals().peak_bytes; }
  std::string extra_json() override {
    const pool_statistics s = pool_.statistics();
    return fmt::format("\"upstream_calls\": {}, \"plans_built\": {}, \"plan_divergences\": {}",
                       s.upstream_allocations + s.upstream_deallocations, s.plans_built, s.plan_divergences);
  }

 private:
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

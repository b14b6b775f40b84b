// Factories of the pools and adaptors for the typed contract suite (listed in
// resource_factories.hpp). Each owns its upstream through composed_resource.
#pragma once

#include <memory>

#include <unimem/pools/arena_resource.hpp>
#include <unimem/resources/device_resource.hpp>
#include <unimem/adaptors/fallback_resource.hpp>
#include <unimem/pools/fixed_block_pool.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/adaptors/limiting_resource.hpp>
#include <unimem/adaptors/logging_resource.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/resources/virtual_memory.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/adaptors/statistics_resource.hpp>
#include <unimem/adaptors/synchronized_resource.hpp>

#include "support/composed_resource.hpp"

namespace unimem::test {

/// `Top` built over a fresh `Upstream`, with `args` after the upstream reference.
template <class Upstream, class Top, class... Args>
std::unique_ptr<memory_resource> over(Args&&... args) {
  auto c = std::make_unique<composed_resource>();
  auto& up = c->push(std::make_unique<Upstream>());
  c->push(std::make_unique<Top>(up, std::forward<Args>(args)...));
  return c;
}

struct pool_host_factory {
  static constexpr const char* name = "pool_host";
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() { return over<host_resource, pool_resource>(); }
};
struct pool_host_best_fit_checked_factory {
  static constexpr const char* name = "pool_host_best_fit_checked";
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() {
    pool_options o;
    o.fit = fit_strategy::ordered_best_fit;
    o.checked = true;
    return over<host_resource, pool_resource>(o);
  }
};
/// The plan region in a host virtual range (what a pool over device memory does with CUDA
/// virtual memory), checked after every call.
struct pool_host_range_factory {
  static constexpr const char* name = "pool_host_range";
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() {
    pool_options o;
    o.region_range = make_host_virtual_range(std::size_t{1} << 30, std::size_t{64} << 10);
    o.checked = true;
    return over<host_resource, pool_resource>(o);
  }
};
struct pool_device_factory {
  static constexpr const char* name = "pool_device";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return over<device_resource, pool_resource>(); }
};
struct pool_pinned_factory {
  static constexpr const char* name = "pool_pinned";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return over<pinned_resource, pool_resource>(); }
};

/// 4 MiB blocks aligned to 2 MiB: the suite asks for up to 3 MiB at alignments up to 2 MiB.
inline fixed_block_pool_options contract_block_options() {
  fixed_block_pool_options o;
  o.block_alignment = std::size_t{2} << 20;
  o.checked = true;
  return o;
}
struct fixed_block_host_factory {
  static constexpr const char* name = "fixed_block_host";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() {
    return over<host_resource, fixed_block_pool>(std::size_t{4} << 20, contract_block_options());
  }
};
struct fixed_block_device_factory {
  static constexpr const char* name = "fixed_block_device";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() {
    return over<device_resource, fixed_block_pool>(std::size_t{4} << 20, contract_block_options());
  }
};

struct arena_host_factory {
  static constexpr const char* name = "arena_host";
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() { return over<host_resource, arena_resource>(); }
};
struct arena_device_factory {
  static constexpr const char* name = "arena_device";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() {
    arena_options o;
    o.checked = true;
    return over<device_resource, arena_resource>(o);
  }
};

struct statistics_host_factory {
  static constexpr const char* name = "statistics_host";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() { return over<host_resource, statistics_resource>(); }
};
struct limiting_host_factory {
  static constexpr const char* name = "limiting_host";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() {
    return over<host_resource, limiting_resource>(std::make_shared<memory_budget>("contract", std::size_t{1} << 30));
  }
};
struct limiting_device_factory {
  static constexpr const char* name = "limiting_pool_device";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() {
    auto c = std::make_unique<composed_resource>();
    auto& dev = c->push(std::make_unique<device_resource>());
    auto& pool = c->push(std::make_unique<pool_resource>(dev));
    c->push(std::make_unique<limiting_resource>(pool, std::make_shared<memory_budget>("contract", std::size_t{1} << 30)));
    return c;
  }
};
/// A 1 MiB budget in front of the host: larger requests fall through to the second resource.
struct fallback_host_factory {
  static constexpr const char* name = "fallback_host";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() {
    auto c = std::make_unique<composed_resource>();
    auto& host = c->push(std::make_unique<host_resource>());
    auto& small = c->push(std::make_unique<limiting_resource>(host, std::make_shared<memory_budget>("small", 1 << 20)));
    c->push(std::make_unique<fallback_resource>(std::vector<memory_resource*>{&small, &host}));
    return c;
  }
};
struct logging_host_factory {
  static constexpr const char* name = "logging_host";
  static constexpr bool checks_frees = true;  // refuses foreign, double and wrong-size frees
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() {
    auto c = std::make_unique<composed_resource>();
    auto& host = c->push(std::make_unique<host_resource>());
    c->push(std::make_unique<logging_resource>(host, "/dev/null"));
    return c;
  }
};
struct synchronized_arena_host_factory {
  static constexpr const char* name = "synchronized_arena_host";
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() {
    auto c = std::make_unique<composed_resource>();
    auto& host = c->push(std::make_unique<host_resource>());
    auto& arena = c->push(std::make_unique<arena_resource>(host));
    c->push(std::make_unique<synchronized_resource>(arena));
    return c;
  }
};

}  // namespace unimem::test

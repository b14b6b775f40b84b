// One factory per resource or adaptor under test. The typed contract suite (test_resource_contract
// .cpp) runs over the list at the bottom: a new resource adds a factory and a line there.
#pragma once

#include <memory>
#include <string>

#include <unimem/resources/device_resource.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/resources/mapped_resource.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/resources/registered_resource.hpp>

#include "support/pool_factories.hpp"

namespace unimem::test {

struct host_factory {
  static constexpr const char* name = "host";
  static constexpr bool needs_gpu = false;
  static std::unique_ptr<memory_resource> make() { return std::make_unique<host_resource>(); }
};
struct device_factory {
  static constexpr const char* name = "device";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return std::make_unique<device_resource>(); }
};
struct managed_global_factory {
  static constexpr const char* name = "managed_global";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return std::make_unique<managed_resource>(managed_attach::global); }
};
struct managed_host_factory {
  static constexpr const char* name = "managed_host";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return std::make_unique<managed_resource>(managed_attach::host); }
};
struct pinned_factory {
  static constexpr const char* name = "pinned";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return std::make_unique<pinned_resource>(); }
};
struct pinned_write_combined_factory {
  static constexpr const char* name = "pinned_write_combined";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() {
    return std::make_unique<pinned_resource>(pinned_options{true, true});
  }
};
struct mapped_factory {
  static constexpr const char* name = "mapped";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return std::make_unique<mapped_resource>(); }
};
struct registered_factory {
  static constexpr const char* name = "registered";
  static constexpr bool needs_gpu = true;
  static std::unique_ptr<memory_resource> make() { return std::make_unique<registered_resource>(); }
};

using all_resource_factories =
    ::testing::Types<host_factory, device_factory, managed_global_factory, managed_host_factory, pinned_factory,
                     pinned_write_combined_factory, mapped_factory, registered_factory,
                     pool_host_factory, pool_host_best_fit_checked_factory, pool_device_factory,
                     pool_host_range_factory,
                     pool_pinned_factory, fixed_block_host_factory, fixed_block_device_factory,
                     arena_host_factory, arena_device_factory, statistics_host_factory,
                     limiting_host_factory, limiting_device_factory, fallback_host_factory,
                     logging_host_factory, synchronized_arena_host_factory>;

/// Names the typed tests after the factory ("resource_contract/pinned.…") instead of a number.
struct factory_name {
  template <class Factory>
  static std::string GetName(int) {
    return Factory::name;
  }
};

}  // namespace unimem::test

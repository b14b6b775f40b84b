#include "c_api.hpp"

#include <cstdlib>
#include <mutex>
#include <vector>

namespace unimem::torch_allocator::c_api {

namespace {

thread_local std::string t_last_error;

struct exit_registry {
  std::mutex mutex;
  std::vector<device_pools*> pools;
  bool registered = false;
};

// Never destroyed: the handler may run after other static destructors.
exit_registry& registry() {
  static auto* r = new exit_registry;
  return *r;
}

void at_exit() noexcept {
  exit_registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  for (device_pools* p : r.pools) p->begin_exit();
}

}  // namespace

void set_last_error(const std::string& message) noexcept {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();
  }
}

void clear_last_error() noexcept { t_last_error.clear(); }

const char* last_error() noexcept { return t_last_error.c_str(); }

void stop_at_exit(device_pools& pools) {
  exit_registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  for (device_pools* p : r.pools) {
    if (p == &pools) return;
  }
  r.pools.push_back(&pools);
  if (!r.registered) {
    r.registered = true;
    std::atexit(&at_exit);
  }
}

}  // namespace unimem::torch_allocator::c_api

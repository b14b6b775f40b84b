// What the exported C functions share: the per-thread last error, a wrapper that turns
// exceptions into -1, and the process-exit handler that stops every pool from freeing.
#pragma once

#include <exception>
#include <string>

#include "device_pools.hpp"

namespace unimem::torch_allocator::c_api {

void set_last_error(const std::string& message) noexcept;
void clear_last_error() noexcept;
const char* last_error() noexcept;

/// Runs `f` (returning int); an exception becomes -1 and the thread's last error.
template <class F>
int guarded(F&& f) noexcept {
  try {
    clear_last_error();
    return f();
  } catch (const std::exception& e) {
    set_last_error(e.what());
  } catch (...) {
    set_last_error("unimem_torch: an unknown exception");
  }
  return -1;
}

/// Puts `pools` (never destroyed) under the exit handler, which is registered with std::atexit on
/// the first call. Call after the pools' first CUDA work, so that the CUDA runtime's own exit
/// handlers, registered earlier, run after ours: from then on frees do nothing.
void stop_at_exit(device_pools& pools);

}  // namespace unimem::torch_allocator::c_api

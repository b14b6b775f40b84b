// Internal: a lock guard that locks only when the resource is shared between threads.
#pragma once

#include <mutex>

namespace unimem::detail {

class optional_lock {
 public:
  explicit optional_lock(std::mutex* m) : m_(m) {
    if (m_ != nullptr) m_->lock();
  }
  ~optional_lock() {
    if (m_ != nullptr) m_->unlock();
  }
  optional_lock(const optional_lock&) = delete;
  optional_lock& operator=(const optional_lock&) = delete;

 private:
  std::mutex* m_;
};

}  // namespace unimem::detail

/// @file limiting_resource.hpp
/// @brief A byte budget that several resources can share, and the adaptor that enforces it.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief A named byte budget. Share one (through std::shared_ptr) between the limiting adaptors
/// of several resources so that, for example, two models on a 4 GB board stay inside one limit.
/// Thread-safe and lock-free.
class memory_budget {
 public:
  /// @param name  printed in errors, e.g. "models on the Orin Nano"
  /// @param limit_bytes most bytes charged at once
  memory_budget(std::string name, std::size_t limit_bytes);

  const std::string& name() const noexcept { return name_; }
  std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  /// @brief Bytes charged now.
  std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  /// @brief Most bytes ever charged at once.
  std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
  /// @brief Changes the limit; charges already made stay (used() may exceed a lowered limit).
  void set_limit(std::size_t limit_bytes) noexcept { limit_.store(limit_bytes, std::memory_order_relaxed); }

  /// @brief Charges `bytes` if they fit. @return false (and charges nothing) if they do not.
  bool try_charge(std::size_t bytes) noexcept;
  /// @brief Returns a charge (at most what is charged: used() never wraps below 0).
  void refund(std::size_t bytes) noexcept;

 private:
  std::string name_;
  std::atomic<std::size_t> limit_;
  std::atomic<std::size_t> used_{0};
  std::atomic<std::size_t> peak_{0};
};

/// @brief Forwards to `upstream` while the requests fit in `budget`; otherwise throws
/// out_of_memory naming the budget, its limit and its current use. Counts requested bytes.
/// Remembers each live allocation, so a free of a pointer it did not hand out, a double free or a
/// size or alignment other than the allocation's throws std::invalid_argument before anything is
/// forwarded or refunded. Thread-safe. Keeps the upstream's traits.
class limiting_resource final : public memory_resource {
 public:
  /// @param upstream must outlive the adaptor
  /// @throws std::invalid_argument when `budget` is null
  limiting_resource(memory_resource& upstream, std::shared_ptr<memory_budget> budget);
  ~limiting_resource() override;

  memory_resource& upstream() const noexcept { return *upstream_; }
  const std::shared_ptr<memory_budget>& budget() const noexcept { return budget_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override { return upstream_->traits(); }
  std::string_view do_name() const noexcept override { return "unimem::limiting_resource"; }

  memory_resource* upstream_;
  std::shared_ptr<memory_budget> budget_;
  struct live_table;
  std::unique_ptr<live_table> live_;
};

}  // namespace unimem

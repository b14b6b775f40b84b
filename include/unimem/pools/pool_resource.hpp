/// @file pool_resource.hpp
/// @brief A coalescing, stream-ordered sub-allocator over any upstream resource.
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <unimem/memory_resource.hpp>
#include <unimem/resources/virtual_memory.hpp>
#include <unimem/stream_events.hpp>
#include <unimem/tag.hpp>

namespace unimem {

/// @brief How the pool picks a free block.
enum class fit_strategy {
  tlsf,              ///< two-level segregated lists with bitmaps: O(1), a good fit (the default)
  ordered_best_fit,  ///< a size-ordered tree: O(log n), the best fit; kept for comparison
};

/// @brief Counters of a pool_resource.
struct pool_statistics {
  std::size_t reserved_bytes = 0;       ///< held from upstream now
  std::size_t peak_reserved_bytes = 0;  ///< most ever held from upstream at once
  std::size_t live_bytes = 0;           ///< requested bytes of live allocations
  std::size_t live_count = 0;           ///< live allocations
  std::size_t chunk_count = 0;          ///< upstream allocations held
  std::size_t upstream_allocations = 0; ///< calls to upstream allocate so far
  std::size_t upstream_deallocations = 0;
  /// Times memory went back to upstream (the pool's policy, release(), trim()), however many
  /// chunks each time: over device memory each costs about one device synchronization
  /// (cudaFree), so this, not upstream_deallocations, is what costs wall time.
  std::size_t release_rounds = 0;
  bool plan_active = false;             ///< the current (or, between iterations, the last) iteration follows a learned plan
  std::size_t plans_built = 0;          ///< iteration plans computed so far
  std::size_t plan_divergences = 0;     ///< iterations that left their plan
  std::size_t stream_waits = 0;         ///< memory freed on one stream handed to another by a device-side wait
};

/// @brief Settings of a pool_resource. The defaults suit an unknown workload.
struct pool_options {
  /// Bytes to take from upstream at construction (0: grow on demand). Not released by the
  /// pool's own policy while anything else is free, but release() returns it.
  std::size_t initial_size = 0;
  /// Most bytes the pool may hold from upstream; a request that would need more throws
  /// out_of_memory. Default: no limit other than upstream's.
  std::size_t maximum_size = std::numeric_limits<std::size_t>::max();
  /// Minimum bytes per upstream request when growing (0: adaptive — an iteration no plan serves
  /// grows by exactly what it asks, otherwise by 1/32 of what the pool holds, between 256 KiB and
  /// 64 MiB, or exactly what a larger request needs).
  std::size_t growth_step = 0;
  /// Free-block search.
  fit_strategy fit = fit_strategy::tlsf;
  /// Learn repeated iterations: the pool cuts its calls into iterations where the number of live
  /// allocations returns to its level between iterations (weights, optimizer state and caches
  /// may stay live), recognises iterations by their call structure, lays out the allocations
  /// that live and die inside one (at the largest size seen at each call) in one region, and
  /// places them there when the structure repeats; allocations that outlive their iteration are
  /// kept apart. An iteration no plan serves grows by exactly what it asks. See docs/pools.md.
  bool learn_iterations = true;
  /// Iterations longer than this many calls are not learned (their record costs 24 B a call).
  std::size_t max_learned_calls = 1u << 16;
  /// Take a mutex on every call. Turn off only when one thread owns the pool.
  bool thread_safe = true;
  /// Verify every internal invariant after every call (slow; for tests and debugging).
  bool checked = false;
  /// Completion markers for stream ordering. Null: CUDA events when the upstream's memory is
  /// device-accessible, and none (every free is reusable at once) when it is host-only.
  std::shared_ptr<stream_event_source> events;
  /// Where the plan region grows in place. Null (the default): a pool directly over
  /// unimem::device_resource reserves one range on the current device when
  /// decide_virtual_memory() says so for it and the driver grants the reservation; every other
  /// pool takes its region from upstream as a chunk. A range given here is used instead (a host
  /// range in tests); its memory must have the upstream's traits.
  std::shared_ptr<virtual_range> region_range;
  /// false: never reserve a device range by default (a region_range given is still used).
  bool virtual_memory = true;
  /// Called at destruction when allocations are still live. Null: print the report to stderr.
  std::function<void(const leak_report&)> on_leak;
};

namespace detail {
class pool_core;
}

/// @brief Coalescing pool over `upstream`, with metadata kept in host memory (the managed memory
/// may be device memory, which cannot hold headers).
///
/// - Free blocks are found with two-level segregated lists and bitmaps (TLSF) and merged with
///   their free neighbours on free; growth takes new chunks from upstream, and before a growth
///   would set a new high-water mark the pool returns its wholly free chunks. The learned region
///   grows in place in a virtual range where there is one (pool_options::region_range).
/// - Stream-ordered: memory freed on stream A is reused at once by allocations on A; another
///   stream B gets it once an event recorded on A after the free has completed, or at once by
///   making B wait for that event on the device (stream_event_source::wait) rather than growing.
///   The host waits for one stream's event only before giving up with out_of_memory and in
///   release() / trim().
/// - Keeps its upstream's traits: a pool over pinned memory is still host-accessible.
/// - Checks every deallocate: a pointer it never returned, a double free, a size or alignment
///   other than the allocation's throw std::invalid_argument and change nothing.
/// - Thread-safe unless pool_options::thread_safe is false.
/// - Learns repeated iterations (see pool_options::learn_iterations).
///
/// @throws out_of_memory from allocate when upstream or maximum_size refuses; the pool stays usable.
class pool_resource final : public memory_resource {
 public:
  /// @param upstream must outlive the pool
  /// @throws std::invalid_argument for inconsistent options (initial_size > maximum_size) or an
  ///         initial_size or growth_step above PTRDIFF_MAX (no upstream gives that much at once)
  /// @throws out_of_memory when initial_size cannot be reserved
  explicit pool_resource(memory_resource& upstream, pool_options options = {});
  /// @brief Reports live allocations (pool_options::on_leak) and returns all memory upstream.
  ~pool_resource() override;

  memory_resource& upstream() const noexcept { return *upstream_; }

  /// @brief Returns every wholly free chunk to upstream. Free memory whose stream may still be
  /// using it is waited for first (that stream's event, never the whole device).
  /// @return bytes returned
  std::size_t release();
  /// @brief Like release(), largest chunks first, until at most `target_bytes` are held.
  /// @return bytes returned
  std::size_t trim(std::size_t target_bytes);

  pool_statistics statistics() const;
  /// @brief Live allocations grouped by tag (see tag.hpp), largest first.
  std::vector<tag_usage> live_by_tag() const;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return "unimem::pool_resource"; }

  memory_resource* upstream_;
  resource_traits traits_;
  std::unique_ptr<detail::pool_core> core_;
};

}  // namespace unimem

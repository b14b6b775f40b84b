/// @file arena_resource.hpp
/// @brief A monotonic arena: bump allocation, everything returned at once by reset().
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <vector>

#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief Settings of an arena_resource.
struct arena_options {
  /// Bytes of the first upstream block (0: 1 MiB). Later blocks double, or fit the request.
  std::size_t initial_size = 0;
  /// Most bytes the arena may hold from upstream; more throws out_of_memory.
  std::size_t maximum_size = std::numeric_limits<std::size_t>::max();
  /// Remember every allocation so deallocate can refuse a double free or a wrong size (otherwise
  /// it only checks that the pointer lies inside the arena).
  bool checked = false;
};

/// @brief Monotonic allocation for one inference: allocate bumps a pointer, deallocate does
/// nothing (the memory comes back at reset()), reset() makes everything reusable.
///
/// After a reset that follows a pass which needed several upstream blocks, the arena replaces
/// them with one block of the pass's total, so a repeated pass needs no upstream call at all.
/// Not thread-safe (one arena per pipeline stage or thread; wrap it in synchronized_resource to
/// share it). Keeps its upstream's traits. The stream argument is ignored: call reset() only once
/// the work using the arena's memory has finished (e.g. after synchronizing the inference stream).
class arena_resource final : public memory_resource {
 public:
  /// @param upstream must outlive the arena
  /// @throws std::invalid_argument initial_size above maximum_size, or above what any upstream
  ///         can give (std::ptrdiff_t)
  explicit arena_resource(memory_resource& upstream, arena_options options = {});
  ~arena_resource() override;

  /// @brief Everything allocated so far becomes reusable. Pointers handed out before are invalid.
  /// Never runs out of memory: when the one block that would hold the last pass whole cannot be
  /// had, the arena starts empty and grows again as the next pass asks.
  void reset();
  /// @brief Bytes handed out since the last reset (with alignment padding).
  std::size_t used_bytes() const noexcept;
  /// @brief Largest used_bytes() seen in any pass.
  std::size_t peak_used_bytes() const noexcept { return peak_used_; }
  /// @brief Bytes held from upstream.
  std::size_t reserved_bytes() const noexcept { return reserved_; }
  /// @brief Upstream blocks held.
  std::size_t block_count() const noexcept { return blocks_.size(); }

 private:
  struct block {
    std::uintptr_t base;
    std::size_t size;
    std::size_t alignment;
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return "unimem::arena_resource"; }

  void add_block(std::size_t bytes, std::size_t min_bytes, std::size_t alignment, stream_view stream);
  void release_all() noexcept;

  memory_resource* upstream_;
  arena_options options_;
  resource_traits traits_;
  std::vector<block> blocks_;
  std::size_t current_ = 0;       // block being bumped
  std::uintptr_t top_ = 0;        // next free byte in it
  std::size_t used_before_ = 0;   // bytes used in blocks before current_ (with their unused tails)
  std::size_t peak_used_ = 0;
  std::size_t reserved_ = 0;
  struct live_table;
  std::unique_ptr<live_table> live_;  // checked mode only
};

}  // namespace unimem

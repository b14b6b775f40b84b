// Internal: the state of a residency_manager, shared with its leases. Every field below the mutex
// is guarded by it. Not installed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <unimem/planning/planned_arena.hpp>
#include <unimem/planning/residency_manager.hpp>

namespace unimem {

namespace residency_detail {

/// One copy of weights in memory; models naming the same weights file point at the same block.
struct weights_block {
  enum class status { absent, loading, resident };
  std::string key;  ///< normalised weights_file, or "\0" + model name for a model's own weights
  std::string file;
  std::size_t bytes = 0;
  void* ptr = nullptr;  ///< allocated while loading or resident
  status st = status::absent;
  /// Models resident with this block plus acquires in progress that will use it; the block is
  /// freed when this drops to 0.
  std::size_t holders = 0;
  std::string loading_for;  ///< the model whose acquire is loading it
};

/// Models that run one after another, and their one activation arena.
struct lane {
  std::string name;
  std::vector<std::size_t> models;              ///< indices, in registration order
  std::vector<tensor_lifetime> tensors;         ///< one per model, in sequence (never overlapping)
  memory_plan plan;                             ///< of `tensors`: what a new arena needs
  std::optional<planned_arena> arena;           ///< allocated while a model of the lane is resident
  bool busy = false;                            ///< a lease or an acquire holds the lane
  std::size_t holder = 0;                       ///< the model holding it, when busy
  std::size_t resident_models = 0;
  std::size_t tag = 0;
};

struct model {
  model_spec spec;
  weights_block* block = nullptr;  ///< nullptr for 0 weight bytes
  residency_detail::lane* lane = nullptr;
  std::size_t activation_bytes = 0;
  std::size_t activation_alignment = default_alignment;
  std::vector<std::size_t> tensor_offsets;  ///< planned offsets of activation_tensors
  bool resident = false;
  bool held = false;  ///< a lease, or an acquire in progress
  std::uint64_t last_use = 0;
  std::size_t loads = 0, evictions = 0;
  std::size_t tag = 0;
};

}  // namespace residency_detail

struct residency_manager::state {
  std::shared_ptr<memory_budget> budget;
  memory_resource* weights = nullptr;
  memory_resource* activations = nullptr;
  memory_resource* staging = nullptr;
  std::unique_ptr<memory_resource> owned_weights, owned_activations, owned_staging;
  residency_options options;  // options.profile and options.staging are not used after setup
  cuda_calls* calls = nullptr;
  device_profile profile;  ///< meaningful when has_profile
  bool has_profile = false;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<residency_detail::model> models;  // a deque: leases keep pointers into it
  std::map<std::string, std::size_t, std::less<>> by_name;
  std::map<std::string, residency_detail::weights_block, std::less<>> blocks;
  std::map<std::string, residency_detail::lane, std::less<>> lanes;
  std::uint64_t clock = 0;
  residency_stats counters;
  std::size_t resident_tag = 0;
  bool closed = false;  ///< the manager is gone; leases still alive unload their model at release

  // All below: called with `mu` held.
  void charge_done(std::size_t weight_bytes, std::size_t activation_bytes);
  void refund(std::size_t weight_bytes, std::size_t activation_bytes);
  void free_block(residency_detail::weights_block& b) noexcept;
  void free_arena(residency_detail::lane& l) noexcept;
  void unload(residency_detail::model& m) noexcept;  ///< evicts a resident model that is not held
  void release_lane_if_idle(residency_detail::lane& l) noexcept;
  std::vector<residency_detail::model*> candidates();  ///< in eviction order
  std::size_t freeable(const std::vector<residency_detail::model*>& victims) const;
  bool evict_for(std::size_t bytes, bool charge);
  void publish() noexcept;
  std::string resident_report() const;
};

}  // namespace unimem

/// @file residency_manager.hpp
/// @brief Several models under one memory budget: lazy loading, eviction of what is not running,
/// one activation arena per lane of models that run one after another, shared weights, and
/// back-pressure when everything is in use. See docs/residency.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <unimem/adaptors/limiting_resource.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/movement/cuda_calls.hpp>
#include <unimem/planning/planner.hpp>
#include <unimem/stream.hpp>

namespace unimem {

class usage_publisher;

/// @brief Where a loader writes a model's weights: `bytes` bytes at `destination`, memory the CPU
/// can write. On an integrated GPU (and whenever the weights' memory is host-accessible) this is
/// the weights' final home, so a load is one read from the file; otherwise (device memory on a
/// discrete GPU) it is pinned staging that the manager copies to the device afterwards.
struct weight_load {
  const std::string& model;         ///< the model being acquired
  const std::string& weights_file;  ///< the model's weights_file (may be empty)
  void* destination;                ///< write the weights here; never null (bytes > 0)
  std::size_t bytes;                ///< exactly this many
  memory_kind kind;                 ///< the memory behind `destination`
  bool staged;                      ///< true when `destination` is staging, copied to the device after
};

/// @brief Fills a weight_load. Runs on the thread that called acquire(), without the manager's
/// lock; it may take as long as the file read takes. If it throws, nothing stays allocated, the
/// model stays unloaded and acquire() rethrows the exception.
using weight_loader = std::function<void(const weight_load&)>;

/// @brief Called when a model stops being resident (evicted, or the manager is destroyed), before
/// its weights may be freed: drop whatever was built on them (an engine, a context). Runs with the
/// manager's lock held, so it must not call the manager. Should not throw: an exception is
/// counted in residency_stats::unloader_errors and the model is unloaded anyway.
using model_unloader = std::function<void(const std::string& model)>;

/// @brief A loader that reads `path` into the destination with read(2), in one pass and with no
/// buffer in between.
/// @throws std::system_error (when loading) the file cannot be opened or read, naming it
/// @throws std::runtime_error (when loading) the file is not exactly weight_load::bytes long,
///         naming both sizes, or is not a regular file (a FIFO is refused, never waited on)
/// @throws std::invalid_argument (when loading) the path contains a NUL byte
weight_loader load_weights_file(std::string path);

/// @brief One model, as registered with residency_manager::add_model().
struct model_spec {
  std::string name;  ///< unique, non-empty; the tag unimem-top shows (at most 47 bytes when publishing)
  std::size_t weight_bytes = 0;
  /// @brief The weights' identity: models naming the same file (after path normalisation) share one
  /// copy of the weights, loaded once and freed when the last of them is evicted. With no `loader`,
  /// the weights are read from this file (load_weights_file). Empty: the weights are the model's own.
  std::string weights_file;
  /// @brief Activation memory (e.g. activation_bytes(plan) or a memory_estimate's, or what a
  /// TensorRT engine's getDeviceMemorySize() says). Leave 0 when giving activation_tensors.
  std::size_t activation_bytes = 0;
  /// @brief The activations as tensors with lifetimes: planned with plan_memory() at add_model(),
  /// and each tensor's pointer comes from lease::activation(i).
  std::vector<tensor_lifetime> activation_tensors;
  /// @brief Higher stays resident longer: eviction takes the lowest priority first.
  int priority = 0;
  /// @brief Models of one lane run one after another, never at the same time, and share the lane's
  /// activation arena, sized for the largest of them. Models that may run at the same time go in
  /// different lanes: lanes have disjoint arenas. acquire() holds a lane until the lease ends, so a
  /// second model of a busy lane waits.
  std::string lane = "main";
  /// @brief Fills the weights; empty with a weights_file: load_weights_file(weights_file). Required
  /// when weight_bytes > 0 and there is no weights_file.
  weight_loader loader;
  model_unloader unloader;  ///< optional
};

/// @brief Settings of a residency_manager.
struct residency_options {
  /// @brief How long acquire() waits for a busy lane, a load by another thread or room in the
  /// budget before it throws.
  std::chrono::milliseconds wait = std::chrono::milliseconds(1000);
  /// @brief Per-model usage for unimem-top: one tag per model (its weights while resident), one
  /// per lane ("lane:<name>", its arena) and "resident" (everything the manager holds, shared
  /// weights counted once). Must outlive the manager. nullptr: nothing published.
  usage_publisher* publisher = nullptr;
  /// @brief Host-writable staging for weights whose memory the CPU cannot write (device memory).
  /// Required then with explicit resources; the profile constructor makes its own. Staging lives
  /// only during a load and is not charged to the budget (on a discrete GPU the budget is device
  /// memory; on an integrated one the policy never stages).
  memory_resource* staging = nullptr;
  /// @brief The device for staging copies and for handing managed weights to the GPU (prefetch);
  /// copied at construction. nullptr: the profile constructor's, else device_profile::current()
  /// when weights are staged or managed.
  const device_profile* profile = nullptr;
  /// @brief Stream of the staging copy and the prefetch; synchronised before acquire() returns.
  stream_view load_stream = stream_view::per_thread();
  /// @brief Where those CUDA calls go (tests record them). nullptr: the CUDA runtime.
  cuda_calls* calls = nullptr;
};

/// @brief What a model is doing now, from residency_manager::models().
struct model_status {
  std::string name;
  std::string lane;
  int priority = 0;
  std::size_t weight_bytes = 0;
  std::size_t activation_bytes = 0;
  bool resident = false;      ///< its weights are in memory
  bool leased = false;        ///< a lease (or an acquire in progress) holds it
  std::size_t loads = 0;      ///< times it became resident
  std::size_t evictions = 0;  ///< times it was evicted
};

/// @brief Counters of a residency_manager (a consistent snapshot).
struct residency_stats {
  std::size_t resident_bytes = 0;       ///< charged to the budget by the manager now
  std::size_t peak_resident_bytes = 0;  ///< most ever charged at once
  std::size_t weight_bytes = 0;         ///< of resident_bytes: weights, each shared copy once
  std::size_t activation_bytes = 0;     ///< of resident_bytes: lane arenas
  std::size_t acquires = 0;             ///< leases handed out
  std::size_t loads = 0;                ///< models made resident
  std::size_t weight_reads = 0;         ///< loader calls that succeeded (a shared copy is read once)
  std::size_t evictions = 0;            ///< models evicted
  std::size_t waits = 0;                ///< acquires that had to wait (lane, load or room)
  std::size_t timeouts = 0;             ///< acquires that gave up
  std::size_t failed_loads = 0;         ///< loaders (or copies) that threw
  std::size_t unloader_errors = 0;      ///< unloaders that threw
};

/// @brief What the registered models need of a budget (docs/residency.md, "Sizing a budget").
struct residency_requirements {
  /// @brief The largest model with its lane's arena: below this, that model can never be resident.
  std::size_t minimum_bytes = 0;
  /// @brief Every model resident at once: the weights (a shared copy once) and every lane's arena.
  /// From here up nothing is ever evicted; between the two, loads and evictions take turns.
  std::size_t no_eviction_bytes = 0;
  /// @brief The models loaded side by side with no manager: every model's weights (no sharing) and
  /// activations of its own.
  std::size_t all_resident_bytes = 0;
};

/// @brief acquire() waited its whole timeout for a busy lane or for a load by another thread.
/// (Waiting for room in the budget ends in out_of_memory instead.)
class acquire_timeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// @brief Keeps several models under one memory_budget.
///
/// - **Lazy**: add_model() allocates nothing; the first acquire() of a model allocates its
///   weights (in memory the policy picks, see the constructors), calls its loader, and, if its
///   lane has none, allocates the lane's activation arena.
/// - **Leases**: acquire() returns a lease; while it lives the model stays resident and holds its
///   lane. Releasing it keeps the model resident until room is needed.
/// - **Eviction**: when a load does not fit, resident models without a lease are evicted in
///   eviction_order(): lowest priority first, then least recently used (acquired or released
///   longest ago). Evicting a model frees its weights unless another resident model shares them,
///   and its lane's arena when no other model of the lane stays resident and the lane is idle.
///   Nothing is evicted unless evicting every candidate would make enough room.
/// - **Back-pressure**: when even that is not enough (everything is leased), acquire() waits up to
///   the timeout for leases to end, then throws out_of_memory naming what is resident, what is
///   leased and how much is missing. A model larger than the budget's limit fails at once.
/// - **Lanes**: see model_spec::lane. A lane's arena keeps its address for as long as any model
///   of the lane stays resident (an engine may be given it once, at load).
/// - **Accounting**: the manager charges the budget with the exact bytes it requests (weights once
///   per shared copy, lane arenas) and refunds them when it frees them, on every path. Other
///   resources may share the budget (limiting_resource); the manager sees their use in the
///   budget and evicts for its own loads, and make_room() evicts for theirs.
///
/// Thread-safe. Loaders run outside the manager's lock, so one thread's load does not stop other
/// threads' acquires of resident models.
class residency_manager {
 public:
  class lease;

  /// @brief Memory chosen by the policy for `profile`: weights where recommend(profile,
  /// access_pattern::weights) puts them (managed memory on a Jetson, attached to the host where
  /// concurrentManagedAccess = 0, so a load can run beside other kernels; device memory with
  /// pinned staging on a discrete GPU), activations in gpu_scratch memory (device).
  /// @throws std::invalid_argument when `budget` is null
  /// @throws unsupported_error     when the device cannot provide that memory
  residency_manager(std::shared_ptr<memory_budget> budget, const device_profile& profile,
                    residency_options options = {});

  /// @brief Weights and activations in the given resources, which must outlive the manager and
  /// every lease. Pass them unwrapped: the manager charges the budget itself.
  /// @throws std::invalid_argument when `budget` is null, or `weights` is not host-accessible and
  ///         options.staging is null or not host-accessible
  /// @throws cuda_error            when weights are staged or managed, options.profile is null and
  ///         there is no device to read the profile of
  residency_manager(std::shared_ptr<memory_budget> budget, memory_resource& weights, memory_resource& activations,
                    residency_options options = {});

  /// @brief Unloads every model (unloaders run) and frees everything. Leases still alive are
  /// reported on stderr; their models are freed when they end (the resources must still exist).
  ~residency_manager();
  residency_manager(const residency_manager&) = delete;
  residency_manager& operator=(const residency_manager&) = delete;

  /// @brief Registers a model; allocates nothing.
  /// @throws std::invalid_argument naming the field and the fix: empty or duplicate name, a name
  ///         too long to publish, weights without a loader or a file, a weights_file already
  ///         registered with other weight_bytes, both activation_bytes and activation_tensors,
  ///         malformed tensors, an empty lane
  /// @throws std::length_error when the publisher's table has no room for the model's tags
  void add_model(model_spec spec);

  /// @brief Makes `name` resident (loading it if needed) and returns a lease holding it and its
  /// lane; waits up to options.wait for a busy lane, a load by another thread, or room.
  /// @throws std::invalid_argument for an unknown name, listing the registered ones
  /// @throws acquire_timeout       the lane stayed busy, or another thread's load of shared
  ///                               weights did not finish, within the wait
  /// @throws out_of_memory         no room within the wait (or ever: larger than the limit)
  /// @throws whatever the loader, the allocation or the staging copy threw (nothing stays allocated)
  lease acquire(std::string_view name);
  /// @brief acquire() with its own wait.
  lease acquire(std::string_view name, std::chrono::milliseconds wait);
  /// @brief acquire() that does not wait: std::nullopt where acquire() would (busy lane, another
  /// thread's load, no room). Still throws for an unknown name, a model larger than the limit and
  /// a failed load.
  std::optional<lease> try_acquire(std::string_view name);

  /// @brief Evicts `name` now if it is resident. @return false when it was not resident
  /// @throws std::invalid_argument unknown name
  /// @throws std::logic_error      it is leased (or being acquired)
  bool evict(std::string_view name);
  /// @brief Evicts unleased models in eviction order until `bytes` more fit in the budget (for
  /// other users of the budget; e.g. from a fallback_resource's exhausted_handler). Does not wait.
  /// @return true when `bytes` fit now; false (having evicted nothing) when they cannot
  bool make_room(std::size_t bytes);

  /// @brief The resident models without a lease, in the order they would be evicted.
  std::vector<std::string> eviction_order() const;
  /// @brief Every registered model, in registration order.
  std::vector<model_status> models() const;
  residency_stats stats() const;
  /// @brief What the models registered so far need of a budget.
  residency_requirements requirements() const;
  const std::shared_ptr<memory_budget>& budget() const noexcept;
  memory_resource& weights_resource() const noexcept;
  memory_resource& activation_resource() const noexcept;
  /// @brief nullptr when weights are written in place.
  memory_resource* staging_resource() const noexcept;

  struct state;  ///< private; shared with the leases

 private:
  std::optional<lease> acquire_until(std::string_view name, std::chrono::steady_clock::time_point deadline,
                                     bool wait);
  std::shared_ptr<state> state_;
};

/// @brief Keeps one model resident and its lane held. Move-only; ends (the model stays resident
/// but may be evicted, the lane is free) at destruction or release(). Must end before the
/// manager's resources are destroyed.
class residency_manager::lease {
 public:
  lease() = default;
  ~lease() { release(); }
  lease(lease&& other) noexcept;
  lease& operator=(lease&& other) noexcept;
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;

  /// @brief Ends the lease now (idempotent).
  void release() noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

  const std::string& name() const noexcept { return *name_; }
  /// @brief The weights, as the weights' resource returned them (device-usable; on a Jetson also
  /// host-usable); nullptr for a model of 0 weight bytes.
  void* weights() const noexcept { return weights_; }
  std::size_t weight_bytes() const noexcept { return weight_bytes_; }
  /// @brief The model's activation range inside its lane's arena: the range its planned tensors
  /// occupy, or activation_bytes bytes. nullptr for 0 bytes. Free for this model while the lease
  /// lives; other models of the lane use the same bytes when it does not.
  void* activations() const noexcept { return activations_; }
  std::size_t activation_bytes() const noexcept { return activation_bytes_; }
  /// @brief The planned pointer of activation tensor `i` (model_spec::activation_tensors).
  /// @throws std::out_of_range for a model registered without tensors or i out of range
  void* activation(std::size_t i) const;
  /// @brief True when this acquire made the model resident (build engines on the weights now).
  bool loaded_now() const noexcept { return loaded_now_; }

 private:
  friend class residency_manager;
  std::shared_ptr<residency_manager::state> state_;
  std::size_t model_ = 0;
  const std::string* name_ = nullptr;
  void* weights_ = nullptr;
  std::size_t weight_bytes_ = 0;
  void* activations_ = nullptr;
  std::size_t activation_bytes_ = 0;
  const std::vector<std::size_t>* tensor_offsets_ = nullptr;  ///< relative to activations_
  bool loaded_now_ = false;
};

}  // namespace unimem

/// @file policy.hpp
/// @brief Which memory to use for a given access pattern on a given device, and why.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <unimem/device_profile.hpp>
#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief The ways inference code touches a buffer (BRIEF section 2).
enum class access_pattern {
  gpu_scratch,           ///< only kernels touch it (activations, workspaces)
  cpu_writes_gpu_reads,  ///< the CPU produces, kernels consume (camera frames, inputs)
  cpu_gpu_shared,        ///< both sides read and write it repeatedly (tracker state, queues)
  gpu_writes_cpu_reads,  ///< kernels produce, the CPU consumes (detections, logits)
  weights,               ///< the CPU writes it once (loaded from a file), kernels read it on every
                         ///< run (model weights, lookup tables)
};

std::string_view to_string(access_pattern p) noexcept;

/// @brief The answer of recommend().
struct recommendation {
  memory_kind kind;                    ///< where the buffer lives
  std::optional<memory_kind> staging;  ///< a host-side staging kind when a copy is needed
  bool needs_copy = false;             ///< data must be copied between `kind` and `staging`
  bool needs_sync_before_cpu_access = false;  ///< the CPU must wait for kernels before touching it
  std::string reason;                  ///< one line, citing the capability that decided it
};

/// @brief Chooses the memory for `pattern` on `profile`. On an integrated GPU the answer never
/// needs a staging copy; on a discrete GPU it is device memory plus pinned staging where the CPU is
/// involved.
recommendation recommend(const device_profile& profile, access_pattern pattern);

/// @brief Builds the resource for `kind` on `profile`'s device (pinned and mapped with default
/// options, managed attached globally).
/// @throws unsupported_error when the device cannot provide that kind
std::unique_ptr<memory_resource> make_resource(memory_kind kind, const device_profile& profile);

}  // namespace unimem

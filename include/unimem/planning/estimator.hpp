/// @file estimator.hpp
/// @brief How much memory a model needs (parameters x dtype bytes + activations + inputs and
/// outputs) and the largest batch that fits a budget.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <unimem/typed/dtype.hpp>
#include <unimem/planning/planner.hpp>

namespace unimem {

/// @brief Bytes of a tensor of `elements` elements of type `t`.
/// @throws std::overflow_error when the product does not fit in std::size_t
std::size_t tensor_bytes(std::size_t elements, dtype t);

/// @brief Bytes of a dense tensor of this shape (the product of the extents; an empty shape is a
/// scalar).
/// @throws std::overflow_error when the product does not fit in std::size_t
std::size_t tensor_bytes(const std::vector<std::size_t>& shape, dtype t);

/// @brief A set of parameters stored in one dtype, e.g. {"backbone", 23'500'000, dtype::f16}.
struct parameter_group {
  std::string name;
  std::size_t elements = 0;
  dtype type = dtype::f32;
};

/// @brief Bytes of all groups.
/// @throws std::overflow_error when the sum does not fit in std::size_t
std::size_t parameter_bytes(const std::vector<parameter_group>& groups);

/// @brief Activation memory with buffer reuse: the arena of the plan.
inline std::size_t activation_bytes(const memory_plan& plan) noexcept { return plan.arena_bytes; }

/// @brief Activation memory with buffer reuse: plans the lifetimes (plan_memory) and returns the
/// arena.
/// @throws std::invalid_argument for malformed lifetimes (see plan_memory)
std::size_t activation_bytes(const std::vector<tensor_lifetime>& lifetimes, const plan_options& options = {});

/// @brief A model's memory, by kind.
struct memory_estimate {
  std::size_t parameter_bytes = 0;   ///< weights and buffers
  std::size_t activation_bytes = 0;  ///< the planned activation arena
  std::size_t input_bytes = 0;
  std::size_t output_bytes = 0;
  std::size_t workspace_bytes = 0;   ///< library scratch (cuDNN, cuBLAS) and the like

  /// @brief The sum. @throws std::overflow_error when it does not fit in std::size_t
  std::size_t total() const;
};

/// @brief The largest batch b with fixed_bytes + b x per_sample_bytes <= budget x (1 - headroom).
///
/// For a model, fixed_bytes is what does not grow with the batch (parameters, workspace) and
/// per_sample_bytes what does (activations, inputs, outputs of one sample). The 20% default
/// headroom leaves room for fragmentation, the CUDA context and estimates that run short.
/// @return the batch; 0 when not even one sample fits (including when fixed_bytes alone does not)
/// @throws std::invalid_argument when per_sample_bytes is 0 (every batch would fit) or headroom is
///         not in [0, 1)
std::size_t choose_batch(std::size_t budget_bytes, std::size_t per_sample_bytes, std::size_t fixed_bytes,
                         double headroom = 0.2);

}  // namespace unimem

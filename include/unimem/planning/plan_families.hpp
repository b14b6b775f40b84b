/// @file plan_families.hpp
/// @brief Synthetic planning inputs: families of tensor lifetimes that stress a memory planner,
/// several with a known optimum, from a thousand to millions of tensors.
///
/// The families with a known optimum are built so that the lower bound (most bytes live at once)
/// is reachable, and say so: a planner must reach it there. The others (growing caches, few
/// sizes, random) have no known optimum; the lower bound is the yardstick. Every instance is a
/// pure function of (family, tensors, seed), on every platform. See docs/planning.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <unimem/planning/planner.hpp>

namespace unimem {

/// @brief One generated input.
struct plan_family_instance {
  std::string family;
  std::vector<tensor_lifetime> tensors;
  /// @brief The optimal arena in bytes when the family guarantees it (it equals the lower
  /// bound), else 0.
  std::size_t optimum = 0;
};

/// @brief The families, in a fixed order:
/// - `nested`: scopes opened and closed like calls (a random walk), each holding one tensor;
///   lifetimes nest, so stacking each scope on its parents reaches the lower bound.
/// - `deep_nesting`: the same, nesting thousands of levels deep.
/// - `two_sided`: two chains of back-to-back tensors of random sizes; never more than two live,
///   so one chain at the bottom and the other against the top reaches the lower bound.
/// - `equal_sizes`: random lifetimes, one size: slots reach the lower bound.
/// - `levels`: 2-16 levels of fixed height, each a chain of back-to-back tensors of its height
///   with its own cut times: every op is at the peak, the level layout reaches it.
/// - `guillotine`: a time x bytes rectangle cut recursively, in time or in bytes, into tensors:
///   no byte is ever free, so the original layout (zero waste) is the only kind that reaches the
///   bound.
/// - `growing_cache`: a transformer decoding loop whose key/value caches grow by concatenation
///   each step (a new, larger tensor, then the old one freed), with weights and transients.
/// - `few_sizes`: random lifetimes of 1-1000 ops with six sizes.
/// - `random`: random lifetimes of 1-24 ops, sizes log-uniform from 256 B to 16 MiB.
std::vector<std::string> plan_family_names();

/// @brief The most tensors make_plan_family generates (3.2 GB of lifetimes); the benchmarks go
/// to a million.
inline constexpr std::size_t max_plan_family_tensors = 100'000'000;

/// @brief Generates `tensors` tensors (exactly) of a family.
/// @throws std::invalid_argument for an unknown family (naming the known ones), tensors == 0 or
///         tensors > max_plan_family_tensors
plan_family_instance make_plan_family(const std::string& family, std::size_t tensors, std::uint64_t seed = 1);

}  // namespace unimem

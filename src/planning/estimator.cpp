#include <unimem/planning/estimator.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "detail/fraction.hpp"

namespace unimem {
namespace {

std::size_t checked_mul(std::size_t a, std::size_t b, const char* call) {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) {
    throw std::overflow_error(fmt::format("unimem::{}: {} x {} does not fit in 64 bits", call, a, b));
  }
  return a * b;
}

std::size_t checked_add(std::size_t a, std::size_t b, const char* call) {
  if (b > std::numeric_limits<std::size_t>::max() - a) {
    throw std::overflow_error(fmt::format("unimem::{}: {} + {} does not fit in 64 bits", call, a, b));
  }
  return a + b;
}

}  // namespace

std::size_t tensor_bytes(std::size_t elements, dtype t) { return checked_mul(elements, size_of(t), "tensor_bytes"); }

std::size_t tensor_bytes(const std::vector<std::size_t>& shape, dtype t) {
  std::size_t elements = 1;
  for (std::size_t extent : shape) elements = checked_mul(elements, extent, "tensor_bytes");
  return tensor_bytes(elements, t);
}

std::size_t parameter_bytes(const std::vector<parameter_group>& groups) {
  std::size_t sum = 0;
  for (const auto& g : groups) sum = checked_add(sum, tensor_bytes(g.elements, g.type), "parameter_bytes");
  return sum;
}

std::size_t activation_bytes(const std::vector<tensor_lifetime>& lifetimes, const plan_options& options) {
  return plan_memory(lifetimes, options).arena_bytes;
}

std::size_t memory_estimate::total() const {
  std::size_t sum = checked_add(parameter_bytes, activation_bytes, "memory_estimate::total");
  sum = checked_add(sum, input_bytes, "memory_estimate::total");
  sum = checked_add(sum, output_bytes, "memory_estimate::total");
  return checked_add(sum, workspace_bytes, "memory_estimate::total");
}

std::size_t choose_batch(std::size_t budget_bytes, std::size_t per_sample_bytes, std::size_t fixed_bytes,
                         double headroom) {
  if (!(headroom >= 0.0 && headroom < 1.0)) {  // also rejects NaN
    throw std::invalid_argument(fmt::format(
        "unimem::choose_batch: headroom {} is not in [0, 1); it is the fraction of the budget kept free, "
        "e.g. 0.2",
        headroom));
  }
  if (per_sample_bytes == 0) {
    throw std::invalid_argument(
        "unimem::choose_batch: per_sample_bytes is 0, so every batch would fit; pass the activation, input "
        "and output bytes of one sample");
  }
  // The reserve is rounded up, so the batch errs small.
  const std::size_t usable = budget_bytes - detail::fraction_of(budget_bytes, headroom);
  if (fixed_bytes >= usable) return 0;
  return (usable - fixed_bytes) / per_sample_bytes;
}

}  // namespace unimem

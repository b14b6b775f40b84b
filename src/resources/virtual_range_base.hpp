// Internal: what every virtual_range implementation shares — its extent, its mapping unit, how
// much is mapped, and the checks of a resize. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/resources/virtual_memory.hpp>

#include "detail/cuda_check.hpp"

namespace unimem::detail {

class virtual_range_base : public virtual_range {
 public:
  std::uintptr_t base() const noexcept override { return base_; }
  std::size_t capacity() const noexcept override { return capacity_; }
  std::size_t granularity() const noexcept override { return granularity_; }
  std::size_t mapped() const noexcept override { return mapped_; }

 protected:
  /// Throws for a size resize() cannot take; `who` names the range in the error.
  void check_resize(std::size_t bytes, const char* who) const {
    if (bytes % granularity_ != 0) {
      throw std::invalid_argument(fmt::format("virtual_range::resize({} B): not a multiple of the granularity {} B",
                                              bytes, granularity_));
    }
    if (bytes > capacity_) {
      throw out_of_memory(bytes, who,
                          fmt::format("the range reserves {}; reserve a larger one (a pool never needs more than "
                                      "the memory of its device)",
                                      format_bytes(capacity_)));
    }
  }

  std::uintptr_t base_ = 0;
  std::size_t capacity_ = 0;
  std::size_t granularity_ = 0;
  std::size_t mapped_ = 0;
};

}  // namespace unimem::detail

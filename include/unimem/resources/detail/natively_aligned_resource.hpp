/// @file detail/natively_aligned_resource.hpp
/// @brief Base for resources whose allocation call has a fixed natural alignment (CUDA calls give
/// 256 B, page-based ones a page). Larger alignments are served by over-allocating.
#pragma once

#include <cstddef>
#include <memory>

#include <unimem/memory_resource.hpp>

namespace unimem::detail {

struct over_aligned_table;

class natively_aligned_resource : public memory_resource {
 protected:
  explicit natively_aligned_resource(std::size_t native_alignment);
  ~natively_aligned_resource() override;

  std::size_t native_alignment() const noexcept { return native_alignment_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) final;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) final;

  /// Allocates `bytes` at the native alignment; throws out_of_memory / cuda_error.
  virtual void* allocate_native(std::size_t bytes, stream_view stream) = 0;
  virtual void deallocate_native(void* p, std::size_t bytes, stream_view stream) = 0;

  std::size_t native_alignment_;
  // Only requests above the native alignment (rare) touch this table, so the common path takes
  // no lock. It records the raw pointer and size behind each over-aligned pointer.
  std::unique_ptr<over_aligned_table> table_;
};

}  // namespace unimem::detail

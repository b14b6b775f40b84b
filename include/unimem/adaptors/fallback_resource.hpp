/// @file fallback_resource.hpp
/// @brief Adaptor that tries the next resource, or calls back, when one runs out of memory.
#pragma once

#include <functional>
#include <string>
#include <memory>
#include <vector>

#include <unimem/error.hpp>
#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief Called when every resource of a fallback_resource refused a request. Return true to
/// try the chain once more (after freeing memory, e.g. unloading a model and switching to a
/// smaller one), false to let the out_of_memory propagate.
using exhausted_handler = std::function<bool(const out_of_memory& last_error)>;

/// @brief Allocates from the first resource of the chain that has room: on out_of_memory it tries
/// the next one; when all refuse, it calls the handler (if any). Memory goes back to the resource
/// that gave it. Thread-safe when the chained resources are.
///
/// Traits are what every resource of the chain guarantees: host (device) access only if all give
/// it; the kind is the first resource's.
class fallback_resource final : public memory_resource {
 public:
  /// @param chain   tried in order; each must outlive the adaptor
  /// @param on_exhausted optional; see exhausted_handler
  /// @throws std::invalid_argument for an empty chain or a null entry
  explicit fallback_resource(std::vector<memory_resource*> chain, exhausted_handler on_exhausted = {});
  ~fallback_resource() override;

  const std::vector<memory_resource*>& chain() const noexcept { return chain_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return "unimem::fallback_resource"; }

  void* try_chain(std::size_t bytes, std::size_t alignment, stream_view stream, std::string& refusals);

  std::vector<memory_resource*> chain_;
  exhausted_handler on_exhausted_;
  resource_traits traits_;
  struct owners;
  std::unique_ptr<owners> owners_;
};

}  // namespace unimem

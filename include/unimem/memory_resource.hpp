/// @file memory_resource.hpp
/// @brief The one interface every unimem allocator implements.
#pragma once

#include <cstddef>
#include <string_view>

#include <unimem/stream.hpp>

namespace unimem {

/// @brief Where memory lives and how it was obtained.
enum class memory_kind {
  host,        ///< pageable host memory (malloc / aligned_alloc)
  pinned,      ///< page-locked host memory (cudaHostAlloc)
  mapped,      ///< pinned and mapped into the GPU's address space: zero-copy
  registered,  ///< existing host memory page-locked with cudaHostRegister
  device,      ///< device memory (cudaMalloc)
  managed,     ///< unified memory (cudaMallocManaged)
};

/// @brief Stable lower-case name of a memory kind ("pinned", "managed", ...).
std::string_view to_string(memory_kind k) noexcept;

/// @brief What a resource's memory can be used for.
struct resource_traits {
  memory_kind kind = memory_kind::host;
  bool host_accessible = false;    ///< the CPU may dereference the pointer
  bool device_accessible = false;  ///< a kernel may dereference the pointer (or its device alias)
  bool device_pointer_is_host_pointer = false;  ///< the same address works on both sides
};

/// @brief Alignment that every CUDA allocation call already gives; the default for all resources.
inline constexpr std::size_t default_alignment = 256;

/// @brief Abstract allocator: allocate / deallocate on a stream, plus traits().
///
/// The public functions validate the arguments once, here, so every resource reports bad input the
/// same way: a zero-byte request returns nullptr, deallocating nullptr does nothing, and an
/// alignment that is zero or not a power of two throws std::invalid_argument.
class memory_resource {
 public:
  memory_resource() = default;
  virtual ~memory_resource() = default;
  memory_resource(const memory_resource&) = delete;
  memory_resource& operator=(const memory_resource&) = delete;

  /// @brief Allocates `bytes` aligned to `alignment`, ordered on `stream`.
  /// @throws std::invalid_argument alignment is 0 or not a power of two
  /// @throws out_of_memory         the request cannot be satisfied
  /// @throws cuda_error            any other CUDA failure
  void* allocate(std::size_t bytes, std::size_t alignment = default_alignment, stream_view stream = {}) {
    if (!valid_alignment(alignment)) throw_bad_alignment("allocate", bytes, alignment);
    if (bytes == 0) return nullptr;
    return do_allocate(bytes, alignment, stream);
  }

  /// @brief Returns memory from allocate() with the same `bytes` and `alignment`; once `stream`'s
  /// work before this call has finished, the memory may be reused.
  void deallocate(void* p, std::size_t bytes, std::size_t alignment = default_alignment,
                  stream_view stream = {}) {
    if (p == nullptr) return;
    if (!valid_alignment(alignment)) throw_bad_alignment("deallocate", bytes, alignment);
    do_deallocate(p, bytes, alignment, stream);
  }

  resource_traits traits() const noexcept { return do_traits(); }
  /// @brief The resource's name as errors print it, e.g. "unimem::pinned_resource".
  std::string_view name() const noexcept { return do_name(); }
  /// @brief True when memory from one may be returned to the other.
  bool is_equal(const memory_resource& other) const noexcept { return do_is_equal(other); }

 protected:
  static constexpr bool valid_alignment(std::size_t a) noexcept { return a != 0 && (a & (a - 1)) == 0; }
  [[noreturn]] void throw_bad_alignment(const char* op, std::size_t bytes, std::size_t alignment) const;

 private:
  virtual void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) = 0;
  virtual void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) = 0;
  virtual resource_traits do_traits() const noexcept = 0;
  virtual std::string_view do_name() const noexcept = 0;
  virtual bool do_is_equal(const memory_resource& other) const noexcept { return this == &other; }
};

}  // namespace unimem

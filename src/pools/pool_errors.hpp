// Internal: the errors pool_resource throws, worded once: each names the call, the value and the
// fix. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace unimem::detail {

/// A request above the pool's maximum_size: out_of_memory.
[[noreturn]] void throw_over_maximum(std::size_t bytes, std::size_t alignment, std::size_t maximum_size);

/// A deallocate whose size or alignment differs from the allocation's: std::invalid_argument.
[[noreturn]] void throw_wrong_size(void* p, std::size_t bytes, std::size_t alignment, std::size_t was_bytes,
                                   std::uint8_t was_align_log2);

/// A deallocate of a pointer no live allocation starts at: std::invalid_argument. `inside` says
/// whether the address lies in memory the pool holds (a double free or an interior pointer).
[[noreturn]] void throw_unknown_pointer(void* p, std::size_t bytes, std::size_t alignment, bool inside);

/// An option sizing one upstream request (an initial size, a growth step) above PTRDIFF_MAX, which
/// no upstream gives at once: std::invalid_argument "<who>(<option> <value> B): no upstream can
/// give <what> that large (more than PTRDIFF_MAX B); <fix>". Does nothing for smaller values.
void refuse_unobtainable(const char* who, const char* option, std::size_t value, const char* what, const char* fix);

/// A broken internal invariant found in checked mode: std::logic_error.
[[noreturn]] void throw_broken(const std::string& what);

}  // namespace unimem::detail

// Internal: the page-locked allocation behind pinned_resource and mapped_resource. Not installed.
#pragma once

#include <cstddef>

namespace unimem::detail {

/// cudaHostAlloc(bytes, flags) for `resource` ("unimem::pinned_resource").
/// @throws out_of_memory naming `resource`, with `oom_hint`, when the OS cannot page-lock `bytes`
/// @throws cuda_error for any other failure
void* host_alloc(std::size_t bytes, unsigned flags, const char* resource, const char* oom_hint);

}  // namespace unimem::detail

/// @file nvtx.hpp
/// @brief Whether this build of unimem emits NVTX ranges.
#pragma once

namespace unimem {

/// @brief True when the library was built with the CMake option UNIMEM_NVTX=ON: allocations,
/// prefetches, attaches, copies and host_access scopes then appear as ranges of the "unimem" domain
/// in Nsight Systems (payload: bytes). When false the ranges are compiled out and cost nothing.
bool nvtx_enabled() noexcept;

}  // namespace unimem

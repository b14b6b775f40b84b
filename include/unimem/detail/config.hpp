/// @file detail/config.hpp
/// @brief The two build switches of unimem's header-only parts.
///
/// UNIMEM_HOST_DEVICE marks functions that kernels may call. It expands to `__host__ __device__`
/// only under a CUDA compiler, so the same headers stay plain C++17 for g++/clang++ and need no
/// CUDA header. It has to be a macro: the annotation is syntax, not something a function can add.
///
/// UNIMEM_CHECKED turns on the per-element checks of owning containers (host access to memory the
/// CPU cannot touch, index bounds). It follows assert(): on unless NDEBUG is defined; define it to
/// 0 or 1 to choose. Keep it the same in every translation unit of a program, as with NDEBUG.
#pragma once

#if defined(__CUDACC__)
#define UNIMEM_HOST_DEVICE __host__ __device__
#else
#define UNIMEM_HOST_DEVICE
#endif

#ifndef UNIMEM_CHECKED
#ifdef NDEBUG
#define UNIMEM_CHECKED 0
#else
#define UNIMEM_CHECKED 1
#endif
#endif

namespace unimem::detail {

/// @brief UNIMEM_CHECKED as a constant, so code tests it with `if constexpr` instead of #if.
inline constexpr bool checked_build = UNIMEM_CHECKED != 0;

}  // namespace unimem::detail

/// @file version.hpp
#pragma once

#define UNIMEM_VERSION_MAJOR 0
#define UNIMEM_VERSION_MINOR 1
#define UNIMEM_VERSION_PATCH 0

namespace unimem {
/// @brief The library's version, e.g. "0.1.0" (the compiled library's, which can differ from the
/// headers' if an application mixes installs).
const char* version() noexcept;
}  // namespace unimem

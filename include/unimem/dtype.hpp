/// @file dtype.hpp
/// @brief Element types of tensors and their sizes. Header-only and free of CUDA headers so the
/// planner and estimators can use it on any host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace unimem {

/// @brief Tensor element types.
enum class dtype : std::uint8_t {
  f32,
  f16,
  bf16,
  f64,
  i8,
  u8,
  i16,
  i32,
  i64,
  boolean,
  f8_e4m3,  ///< 8-bit float (E4M3), as in Hopper/Blackwell/Thor tensor cores
  f8_e5m2,  ///< 8-bit float (E5M2)
};

/// @brief Bytes per element.
constexpr std::size_t size_of(dtype t) noexcept {
  switch (t) {
    case dtype::f64:
    case dtype::i64: return 8;
    case dtype::f32:
    case dtype::i32: return 4;
    case dtype::f16:
    case dtype::bf16:
    case dtype::i16: return 2;
    case dtype::i8:
    case dtype::u8:
    case dtype::boolean:
    case dtype::f8_e4m3:
    case dtype::f8_e5m2: return 1;
  }
  return 0;
}

/// @brief Lower-case name as frameworks spell it ("float16", "bfloat16", "int8", ...).
constexpr std::string_view to_string(dtype t) noexcept {
  switch (t) {
    case dtype::f32: return "float32";
    case dtype::f16: return "float16";
    case dtype::bf16: return "bfloat16";
    case dtype::f64: return "float64";
    case dtype::i8: return "int8";
    case dtype::u8: return "uint8";
    case dtype::i16: return "int16";
    case dtype::i32: return "int32";
    case dtype::i64: return "int64";
    case dtype::boolean: return "bool";
    case dtype::f8_e4m3: return "float8_e4m3";
    case dtype::f8_e5m2: return "float8_e5m2";
  }
  return "unknown";
}

}  // namespace unimem

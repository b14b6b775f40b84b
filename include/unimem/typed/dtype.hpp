/// @file dtype.hpp
/// @brief Element types of tensors and their sizes. Header-only and free of CUDA headers so the
/// planner and estimators can use it on any host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

// The CUDA element types, declared (not defined) so dtype_of<__half> works without cuda_fp16.h;
// cuda_fp16.h and cuda_fp8.h forward-declare them the same way.
struct __half;
struct __nv_bfloat16;
struct __nv_fp8_e4m3;
struct __nv_fp8_e5m2;

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
  u16,      ///< e.g. depth images from RGB-D cameras
  u32,
  u64,
};

/// @brief Bytes per element.
constexpr std::size_t size_of(dtype t) noexcept {
  switch (t) {
    case dtype::f64:
    case dtype::i64:
    case dtype::u64: return 8;
    case dtype::f32:
    case dtype::i32:
    case dtype::u32: return 4;
    case dtype::f16:
    case dtype::bf16:
    case dtype::i16:
    case dtype::u16: return 2;
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
    case dtype::u16: return "uint16";
    case dtype::u32: return "uint32";
    case dtype::u64: return "uint64";
  }
  return "unknown";
}

/// @brief True for the floating-point types (f16, bf16, f32, f64 and the fp8 formats).
constexpr bool is_floating_point(dtype t) noexcept {
  switch (t) {
    case dtype::f32:
    case dtype::f16:
    case dtype::bf16:
    case dtype::f64:
    case dtype::f8_e4m3:
    case dtype::f8_e5m2: return true;
    default: return false;
  }
}

/// @brief The dtype of a C++ element type: `dtype_of<float>::value == dtype::f32`. Defined for
/// the arithmetic types by size and signedness (so `long long` and `long` both map to i64), bool,
/// and CUDA's __half, __nv_bfloat16, __nv_fp8_e4m3 and __nv_fp8_e5m2 (declared above, so no CUDA
/// header is needed to name them). Plain `char` and the character types have none: `char` is
/// signed on x86 and unsigned on the Jetson's aarch64, so use `std::int8_t` or `std::uint8_t`.
/// Undefined for anything else, which makes a typo a compile error.
template <class T, class = void>
struct dtype_of {};

namespace detail {

template <class T>
inline constexpr bool is_character_v = std::is_same_v<T, char> || std::is_same_v<T, wchar_t> ||
                                       std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>;

template <class T>
constexpr dtype integer_dtype() noexcept {
  constexpr bool s = std::is_signed_v<T>;
  if constexpr (sizeof(T) == 1) return s ? dtype::i8 : dtype::u8;
  else if constexpr (sizeof(T) == 2) return s ? dtype::i16 : dtype::u16;
  else if constexpr (sizeof(T) == 4) return s ? dtype::i32 : dtype::u32;
  else return s ? dtype::i64 : dtype::u64;
}

}  // namespace detail

template <class T>
struct dtype_of<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                    !detail::is_character_v<T> && sizeof(T) <= 8 &&
                                    std::is_same_v<T, std::remove_cv_t<T>>>>
    : std::integral_constant<dtype, detail::integer_dtype<T>()> {};
template <> struct dtype_of<bool> : std::integral_constant<dtype, dtype::boolean> {};
template <> struct dtype_of<float> : std::integral_constant<dtype, dtype::f32> {};
template <> struct dtype_of<double> : std::integral_constant<dtype, dtype::f64> {};
template <> struct dtype_of<__half> : std::integral_constant<dtype, dtype::f16> {};
template <> struct dtype_of<__nv_bfloat16> : std::integral_constant<dtype, dtype::bf16> {};
template <> struct dtype_of<__nv_fp8_e4m3> : std::integral_constant<dtype, dtype::f8_e4m3> {};
template <> struct dtype_of<__nv_fp8_e5m2> : std::integral_constant<dtype, dtype::f8_e5m2> {};
template <class T>
struct dtype_of<const T> : dtype_of<T> {};
template <class T>
struct dtype_of<volatile T> : dtype_of<T> {};
template <class T>
struct dtype_of<const volatile T> : dtype_of<T> {};

/// @brief `dtype_of<T>::value`; a compile error for a type without a dtype.
template <class T>
inline constexpr dtype dtype_of_v = dtype_of<T>::value;

/// @brief True when T (ignoring const/volatile) has a dtype.
template <class T, class = void>
struct has_dtype : std::false_type {};
template <class T>
struct has_dtype<T, std::void_t<decltype(dtype_of<T>::value)>> : std::true_type {};
template <class T>
inline constexpr bool has_dtype_v = has_dtype<T>::value;

}  // namespace unimem

// Internal: alignment and overflow-checked size arithmetic for every component that computes
// sizes, offsets and counts (pools, planner, views, parsers). Not installed.
//
// Sizes on a public path come from users, files and peer processes; a product or sum that wraps
// turns into a small allocation used as a large one. Every such computation goes through the
// checked forms below, which report wrap-around instead of returning a wrong value.
#pragma once

#include <cstddef>

namespace unimem::detail {

/// Rounds `v` up to a multiple of the power of two `a`. Only for values known to be far from
/// the top of the range (e.g. already bounded by a maximum); use checked_align_up otherwise.
constexpr std::size_t align_up(std::size_t v, std::size_t a) noexcept { return (v + a - 1) & ~(a - 1); }

/// `out` = `v` rounded up to a multiple of the power of two `a`; false (and `out` unchanged)
/// when that does not fit in std::size_t.
constexpr bool checked_align_up(std::size_t v, std::size_t a, std::size_t& out) noexcept {
  std::size_t sum = 0;
  if (__builtin_add_overflow(v, a - 1, &sum)) return false;
  out = sum & ~(a - 1);
  return true;
}

/// `out` = `x` + `y`; false (and `out` unchanged) on wrap-around.
constexpr bool checked_add(std::size_t x, std::size_t y, std::size_t& out) noexcept {
  std::size_t r = 0;
  if (__builtin_add_overflow(x, y, &r)) return false;
  out = r;
  return true;
}

/// `x` + `y`, or SIZE_MAX when that wraps: for totals that are reported or compared with a limit,
/// where "more than anything can hold" is the right answer.
constexpr std::size_t saturating_add(std::size_t x, std::size_t y) noexcept {
  std::size_t r = 0;
  return __builtin_add_overflow(x, y, &r) ? static_cast<std::size_t>(-1) : r;
}

/// `out` = `x` * `y`; false (and `out` unchanged) on wrap-around.
constexpr bool checked_mul(std::size_t x, std::size_t y, std::size_t& out) noexcept {
  std::size_t r = 0;
  if (__builtin_mul_overflow(x, y, &r)) return false;
  out = r;
  return true;
}

}  // namespace unimem::detail

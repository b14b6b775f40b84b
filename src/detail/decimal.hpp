// Internal: the one strict reader of decimal integers, for everything that takes a number from a
// file, a peer or a command line (traces, lifetimes CSVs, /proc/meminfo, the NvMap table, the
// tools' options through unimem_support). Not installed.
//
// Strict means: all of the text is the number. Digits only, with one leading '-' for a signed type;
// no space, '+', "0x", exponent or trailing unit; a value outside the type is out of range, never
// wrapped or clamped (strtoull accepts " -5" as 2^64 - 5 and saturates silently).
#pragma once

#include <charconv>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace unimem::detail {

/// Reads `text` into `out` (unchanged unless the result is std::errc{}).
/// @return std::errc{} on success, std::errc::invalid_argument for text that is not a decimal
///         integer of T's signedness (empty, a sign on an unsigned type, anything but digits),
///         std::errc::result_out_of_range for a number that T cannot hold
template <class T>
std::errc parse_decimal(std::string_view text, T& out) noexcept {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>, "an integer type");
  if (text.empty()) return std::errc::invalid_argument;
  const std::string_view digits = text.front() == '-' ? text.substr(1) : text;
  if (digits.empty() || (text.front() == '-' && std::is_unsigned_v<T>)) return std::errc::invalid_argument;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::errc::invalid_argument;
  }
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{}) return ec;
  if (end != text.data() + text.size()) return std::errc::invalid_argument;
  out = v;
  return std::errc{};
}

/// parse_decimal, as a yes or no.
template <class T>
bool read_decimal(std::string_view text, T& out) noexcept {
  return parse_decimal(text, out) == std::errc{};
}

}  // namespace unimem::detail

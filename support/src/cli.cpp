#include <unimem_support/cli.hpp>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/decimal.hpp"

namespace unimem::support {
namespace {

template <class T>
[[noreturn]] void refuse(std::string_view option, std::string_view text, const char* why, T min, T max) {
  throw usage_error(fmt::format("{} \"{}\": {}; give an integer from {} to {}", printable(option, 60),
                                printable(text, 60), why, min, max));
}

/// Why `text` is not a decimal integer, for the message (the one parser, detail::parse_decimal,
/// decides; this only names the reason).
const char* malformed(std::string_view text, bool signed_ok) {
  if (text.empty()) return "empty";
  if (text.find('\0') != std::string_view::npos) return "contains a NUL byte";
  if (text.front() == '-' && !signed_ok) return "negative";  // "-0" too: an unsigned option takes no sign
  return "not a whole number";
}

}  // namespace

std::uint64_t parse_unsigned(std::string_view option, std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t v = 0;
  const std::errc ec = detail::parse_decimal(text, v);
  if (ec == std::errc::result_out_of_range) refuse(option, text, "too large", min, max);
  if (ec != std::errc{}) refuse(option, text, malformed(text, false), min, max);
  if (v > max) refuse(option, text, "too large", min, max);
  if (v < min) refuse(option, text, "too small", min, max);
  return v;
}

std::int64_t parse_signed(std::string_view option, std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  const std::errc ec = detail::parse_decimal(text, v);
  if (ec == std::errc::result_out_of_range) refuse(option, text, text.front() == '-' ? "too small" : "too large", min, max);
  if (ec != std::errc{}) refuse(option, text, malformed(text, true), min, max);
  if (v > max) refuse(option, text, "too large", min, max);
  if (v < min) refuse(option, text, v < 0 && min >= 0 ? "negative" : "too small", min, max);
  return v;
}

const char* option_value(int argc, char** argv, int& i) {
  if (i + 1 >= argc) throw usage_error(fmt::format("{} needs a value", printable(argv[i], 60)));
  return argv[++i];
}

}  // namespace unimem::support

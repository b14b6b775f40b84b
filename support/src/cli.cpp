#include <unimem_support/cli.hpp>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include <unimem/error.hpp>

namespace unimem::support {
namespace {

template <class T>
[[noreturn]] void refuse(std::string_view option, std::string_view text, const char* why, T min, T max) {
  throw usage_error(fmt::format("{} \"{}\": {}; give an integer from {} to {}", printable(option, 60),
                                printable(text, 60), why, min, max));
}

/// Why `text` is not a plain decimal integer (empty when it is one, a '-' allowed when `signed_ok`).
const char* malformed(std::string_view text, bool signed_ok) {
  if (text.empty()) return "empty";
  if (text.find('\0') != std::string_view::npos) return "contains a NUL byte";
  std::string_view digits = text;
  if (digits.front() == '-') {
    if (!signed_ok) return "negative";
    digits.remove_prefix(1);
  }
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "not a whole number";
  }
  return nullptr;
}

}  // namespace

std::uint64_t parse_unsigned(std::string_view option, std::string_view text, std::uint64_t min, std::uint64_t max) {
  if (const char* why = malformed(text, false)) {
    // "-0" is still negative in spirit: no sign is accepted for an unsigned option.
    refuse(option, text, why, min, max);
  }
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range || (ec == std::errc{} && v > max)) refuse(option, text, "too large", min, max);
  if (ec != std::errc{} || end != text.data() + text.size()) refuse(option, text, "not a whole number", min, max);
  if (v < min) refuse(option, text, "too small", min, max);
  return v;
}

std::int64_t parse_signed(std::string_view option, std::string_view text, std::int64_t min, std::int64_t max) {
  if (const char* why = malformed(text, true)) refuse(option, text, why, min, max);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    refuse(option, text, text.front() == '-' ? "too small" : "too large", min, max);
  }
  if (ec != std::errc{} || end != text.data() + text.size()) refuse(option, text, "not a whole number", min, max);
  if (v > max) refuse(option, text, "too large", min, max);
  if (v < min) refuse(option, text, v < 0 && min >= 0 ? "negative" : "too small", min, max);
  return v;
}

const char* option_value(int argc, char** argv, int& i) {
  if (i + 1 >= argc) throw usage_error(fmt::format("{} needs a value", printable(argv[i], 60)));
  return argv[++i];
}

}  // namespace unimem::support

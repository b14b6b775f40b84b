// Command-line options of the tools: one strict parser for every number, and the value that must
// follow an option. Errors are usage_error (the tools print it and exit with status 2).
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace unimem::support {

/// A command line that cannot be run: the message names the option, the value and what it accepts.
class usage_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Parses `text`, the value given to `option`, as a decimal integer from `min` to `max`: digits
/// only (no sign for an unsigned range, no space, no "0x", no NUL), nothing after them.
/// @throws usage_error naming the option, the value (escaped) and the range
std::uint64_t parse_unsigned(std::string_view option, std::string_view text, std::uint64_t min = 0,
                             std::uint64_t max = std::numeric_limits<std::uint64_t>::max());
/// As parse_unsigned, for a range that may include negative numbers (a leading '-' only).
std::int64_t parse_signed(std::string_view option, std::string_view text, std::int64_t min, std::int64_t max);

/// parse_unsigned / parse_signed into an integer type T, within [min, max] (default: all of T).
template <class T>
T parse_number(std::string_view option, std::string_view text, T min = std::numeric_limits<T>::min(),
               T max = std::numeric_limits<T>::max()) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>, "an integer type");
  if constexpr (std::is_unsigned_v<T>) {
    return static_cast<T>(parse_unsigned(option, text, min, max));
  } else {
    return static_cast<T>(parse_signed(option, text, min, max));
  }
}

/// The value after the option argv[i] (advancing `i` to it).
/// @throws usage_error "OPTION needs a value" when argv[i] is the last argument
const char* option_value(int argc, char** argv, int& i);

}  // namespace unimem::support

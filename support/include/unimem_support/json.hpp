// JSON output of the tools: strings escaped in full (quote, backslash, every control character as
// \u00XX, invalid UTF-8 as U+FFFD) and non-finite numbers written as null, so that every line a
// tool prints parses, whatever the file names and measurements.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace unimem::support {

/// The JSON string literal of `s`, quotes included.
std::string json_string(std::string_view s);

/// `v` with `decimals` digits after the point, or null when it is infinite or NaN.
std::string json_number(double v, int decimals);

/// One JSON object, built field by field, written on one line as {"key": value, ...}.
class json_object {
 public:
  json_object& add(std::string_view key, std::string_view value);
  json_object& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  json_object& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  json_object& add(std::string_view key, bool value);
  json_object& add(std::string_view key, double value, int decimals);
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  json_object& add(std::string_view key, T value) {
    if constexpr (std::is_signed_v<T>) {
      return add_raw(key, std::to_string(static_cast<long long>(value)));
    } else {
      return add_raw(key, std::to_string(static_cast<unsigned long long>(value)));
    }
  }
  json_object& add_null(std::string_view key) { return add_raw(key, "null"); }
  /// `json` must already be a JSON value (a number, an array, an object).
  json_object& add_raw(std::string_view key, std::string_view json);
  /// "key": value pairs already written as JSON, without braces (may be empty).
  json_object& add_fields(std::string_view fields);

  std::string str() const { return text_ + "}"; }

 private:
  void key(std::string_view k);
  std::string text_ = "{";
};

}  // namespace unimem::support

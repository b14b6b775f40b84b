#include <unimem_support/json.hpp>

#include <cmath>

#include <fmt/format.h>

namespace unimem::support {
namespace {

/// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one.
std::size_t utf8_length(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  std::uint32_t min = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  std::uint32_t cp = c & (0x7f >> n);
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const std::size_t n = utf8_length(s.substr(i)); n != 0) {
      out.append(s.data() + i, n);
      i += n;
      continue;
    } else {
      out += "\\ufffd";  // not UTF-8 (a file name in another encoding): JSON text must be
    }
    ++i;
  }
  out += '"';
  return out;
}

std::string json_number(double v, int decimals) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{:.{}f}", v, decimals);
}

void json_object::key(std::string_view k) {
  if (text_.size() > 1) text_ += ", ";
  text_ += json_string(k);
  text_ += ": ";
}

json_object& json_object::add(std::string_view k, std::string_view value) {
  key(k);
  text_ += json_string(value);
  return *this;
}

json_object& json_object::add(std::string_view k, bool value) { return add_raw(k, value ? "true" : "false"); }

json_object& json_object::add(std::string_view k, double value, int decimals) {
  return add_raw(k, json_number(value, decimals));
}

json_object& json_object::add_raw(std::string_view k, std::string_view json) {
  key(k);
  text_ += json;
  return *this;
}

json_object& json_object::add_fields(std::string_view fields) {
  if (fields.empty()) return *this;
  if (text_.size() > 1) text_ += ", ";
  text_ += fields;
  return *this;
}

}  // namespace unimem::support

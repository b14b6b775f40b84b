// Reader of MiniMalloc's CSV format (see include/unimem/planning/minimalloc_io.hpp).
#include <unimem/planning/minimalloc_io.hpp>

#include <limits>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/decimal.hpp"
#include "detail/text_lines.hpp"
#include "planning/minimalloc_reader.hpp"

namespace unimem {
namespace {

std::vector<std::string_view> fields_of(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  std::vector<std::string_view> out;
  for (std::size_t pos = 0;;) {
    const std::size_t comma = line.find(',', pos);
    std::string_view f = line.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
    while (!f.empty() && f.back() == ' ') f.remove_suffix(1);
    out.push_back(f);
    if (comma == std::string_view::npos) return out;
    pos = comma + 1;
  }
}

int find_column(const std::vector<std::string_view>& header, std::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

bool is_minimalloc_header(const std::string& header_line) {
  const auto h = fields_of(header_line);
  return find_column(h, "id") >= 0 && find_column(h, "lower") >= 0 && find_column(h, "upper") >= 0 &&
         find_column(h, "size") >= 0;
}

namespace detail {

// Reads through the one bounded line reader (detail/text_lines.hpp) that every planning input
// uses, so a binary file or /dev/zero is refused at its first line.
std::vector<tensor_lifetime> read_minimalloc(text_lines& in) {
  std::string_view line;
  while (in.next(line) && line.find_first_not_of(" \r\t") == std::string_view::npos) {
  }
  const std::string first(line);
  if (!is_minimalloc_header(first)) {
    throw std::runtime_error(fmt::format("{}:{}: header '{}' lacks id, lower, upper or size; expected 'id,lower,upper,size'",
                                         in.name(), in.line_number(), printable(first, 80)));
  }
  const auto header = fields_of(first);
  const int c_lower = find_column(header, "lower"), c_upper = find_column(header, "upper");
  const int c_size = find_column(header, "size"), c_align = find_column(header, "alignment");
  std::vector<tensor_lifetime> out;
  while (in.next(line)) {
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    const std::size_t line_no = in.line_number();
    const auto f = fields_of(line);
    if (f.size() < header.size()) {
      throw std::runtime_error(fmt::format("{}:{}: '{}' has {} fields, the header has {}", in.name(), line_no,
                                           printable(line, 80), f.size(), header.size()));
    }
    auto number = [&](int column, const char* what) {
      std::size_t v = 0;
      const std::string_view s = f[static_cast<std::size_t>(column)];
      if (!read_decimal(s, v)) {
        throw std::runtime_error(fmt::format("{}:{}: {} '{}' is not an integer from 0 to {}", in.name(), line_no, what,
                                             printable(s, 40), std::numeric_limits<std::size_t>::max()));
      }
      return v;
    };
    tensor_lifetime t;
    const std::size_t lower = number(c_lower, "lower"), upper = number(c_upper, "upper");
    if (upper <= lower) {
      throw std::runtime_error(fmt::format("{}:{}: upper {} <= lower {}; a buffer lives over [lower, upper)", in.name(),
                                           line_no, upper, lower));
    }
    t.first_op = lower;
    t.last_op = upper - 1;
    t.bytes = number(c_size, "size");
    if (c_align >= 0) {
      t.alignment = number(c_align, "alignment");
      if (t.alignment == 0 || (t.alignment & (t.alignment - 1)) != 0) {
        throw std::runtime_error(fmt::format("{}:{}: alignment {} is not a power of two", in.name(), line_no, t.alignment));
      }
    }
    out.push_back(t);
  }
  return out;
}

}  // namespace detail

std::vector<tensor_lifetime> parse_minimalloc_csv(std::istream& in, const std::string& source) {
  detail::text_lines lines(in, source);
  return detail::read_minimalloc(lines);
}

std::vector<tensor_lifetime> load_minimalloc_csv(const std::string& path) {
  detail::text_lines lines(path);
  return detail::read_minimalloc(lines);
}

bool is_minimalloc_file(const std::string& path) {
  detail::text_lines in(path);
  std::string_view line;
  while (in.next(line) && line.find_first_not_of(" \r\t") == std::string_view::npos) {
  }
  return is_minimalloc_header(std::string(line));
}

std::size_t minimalloc_capacity(const std::string& path) {
  // <name>.<capacity>.csv: the digits between the last two dots of the file name.
  const std::size_t slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::size_t ext = name.rfind(".csv");
  if (ext == std::string::npos || ext == 0) return 0;
  const std::size_t dot = name.rfind('.', ext - 1);
  if (dot == std::string::npos) return 0;
  std::size_t v = 0;
  return detail::read_decimal(std::string_view(name).substr(dot + 1, ext - dot - 1), v) ? v : 0;
}

}  // namespace unimem

// The planner's inputs (docs/planning.md, data/README.md): the lifetimes CSV, read here, and the
// allocation trace, read by the one trace module (trace.hpp) and turned into lifetimes here.
#include <unimem/planning/planner.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/planning/minimalloc_io.hpp>
#include <unimem/trace.hpp>

#include "detail/decimal.hpp"
#include "detail/text_lines.hpp"
#include "detail/trace_reader.hpp"
#include "planning/minimalloc_reader.hpp"

namespace unimem {
namespace {

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = line.find(',', pos);
    out.push_back(line.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  for (auto& f : out) {
    while (!f.empty() && (f.back() == '\r' || f.back() == ' ')) f.remove_suffix(1);
    while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
  }
  return out;
}

std::size_t to_size(std::string_view field, const std::string& source, std::size_t line_no, const char* what) {
  std::size_t v = 0;
  if (!detail::read_decimal(field, v)) {
    throw std::runtime_error(fmt::format("{}:{}: {} '{}' is not an integer from 0 to {}", source, line_no, what,
                                         printable(field, 40), std::numeric_limits<std::size_t>::max()));
  }
  return v;
}

int column(const std::vector<std::string_view>& header, std::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

bool blank(std::string_view line) { return line.find_first_not_of(" \r\t") == std::string_view::npos; }

/// The lifetimes format, header first, from `in`.
std::vector<tensor_lifetime> read_lifetimes(detail::text_lines& in) {
  std::string_view line;
  while (in.next(line) && blank(line)) {
  }
  const std::string first_line(line);
  const auto header = split(first_line);
  const int c_first = column(header, "first_op"), c_last = column(header, "last_op"), c_bytes = column(header, "bytes");
  if (c_first < 0 || c_last < 0 || c_bytes < 0) {
    throw std::runtime_error(fmt::format(
        "{}:{}: header '{}' lacks first_op, last_op or bytes; expected 'tensor,first_op,last_op,bytes'", in.name(),
        in.line_number(), printable(first_line, 80)));
  }
  const std::string source = in.name();
  const std::size_t need = static_cast<std::size_t>(std::max({c_first, c_last, c_bytes})) + 1;
  std::vector<tensor_lifetime> out;
  while (in.next(line)) {
    const std::size_t line_no = in.line_number();
    if (blank(line)) continue;
    const auto f = split(line);
    if (f.size() < need) {
      throw std::runtime_error(fmt::format("{}:{}: '{}' has {} fields, expected {}", source, line_no,
                                           printable(line, 80), f.size(), header.size()));
    }
    tensor_lifetime t;
    t.first_op = to_size(f[c_first], source, line_no, "first_op");
    t.last_op = to_size(f[c_last], source, line_no, "last_op");
    t.bytes = to_size(f[c_bytes], source, line_no, "bytes");
    if (t.last_op < t.first_op) {
      throw std::runtime_error(
          fmt::format("{}:{}: last_op {} < first_op {} (last_op is inclusive)", source, line_no, t.last_op, t.first_op));
    }
    out.push_back(t);
  }
  return out;
}

}  // namespace

std::vector<tensor_lifetime> tensor_lifetimes(const alloc_trace& trace) {
  std::vector<tensor_lifetime> out;
  out.reserve(trace.allocation_count());
  std::unordered_map<std::uint64_t, std::size_t> open;  // id -> index in out
  for (std::size_t event = 0; event < trace.ops.size(); ++event) {
    const trace_op& op = trace.ops[event];
    if (op.is_alloc) {
      if (!open.emplace(op.id, out.size()).second) {
        throw std::invalid_argument(fmt::format(
            "unimem::tensor_lifetimes({}): op {} allocates id {} again before its free; pass a trace from "
            "load_trace or parse_trace",
            trace.name, event, op.id));
      }
      out.push_back(tensor_lifetime{op.bytes, event, event, 1});
    } else {
      const auto it = open.find(op.id);
      if (it == open.end() || out[it->second].bytes != op.bytes) {
        throw std::invalid_argument(fmt::format(
            "unimem::tensor_lifetimes({}): op {} frees id {} ({} B), which is not live with that size; pass a trace "
            "from load_trace or parse_trace",
            trace.name, event, op.id, op.bytes));
      }
      out[it->second].last_op = event;
      open.erase(it);
    }
  }
  // Never freed: live until the end of the trace.
  for (const auto& [id, index] : open) out[index].last_op = trace.ops.size() - 1;
  return out;
}

std::vector<tensor_lifetime> parse_lifetimes_csv(std::istream& in, const std::string& source) {
  detail::text_lines lines(in, source);
  return read_lifetimes(lines);
}

std::vector<tensor_lifetime> parse_alloc_trace(std::istream& in, const std::string& source) {
  detail::text_lines lines(in, source);
  return tensor_lifetimes(detail::read_trace(lines, source));
}

std::vector<tensor_lifetime> load_tensor_lifetimes(const std::string& path) {
  detail::text_lines in(path);
  std::string_view line;
  while (in.next(line) && blank(line)) {
  }
  const auto header = split(line);
  in.unread();
  if (column(header, "first_op") >= 0) return read_lifetimes(in);
  if (!header.empty() && header[0] == "op") return tensor_lifetimes(detail::read_trace(in, path));
  if (is_minimalloc_header(std::string(line))) return detail::read_minimalloc(in);
  throw std::runtime_error(fmt::format(
      "unimem::load_tensor_lifetimes: {} starts with '{}', neither a lifetimes CSV "
      "(tensor,first_op,last_op,bytes), an allocation trace ({}) nor a MiniMalloc CSV (id,lower,upper,size)",
      in.name(), printable(line, 80), detail::trace_header));
}

}  // namespace unimem

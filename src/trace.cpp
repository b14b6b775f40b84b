#include <unimem/trace.hpp>

#include <algorithm>
#include <charconv>
#include <ostream>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

namespace unimem {
namespace {

constexpr std::string_view header = "op,id,bytes,stream";

template <class T>
T parse_field(std::string_view field, std::string_view what, std::string_view name, std::size_t line) {
  T value{};
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc{} || end != field.data() + field.size()) {
    throw std::runtime_error(fmt::format("{}:{}: {} \"{}\" is not a non-negative integer", name, line, what, field));
  }
  return value;
}

std::string_view trim_cr(std::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

}  // namespace

std::size_t alloc_trace::allocation_count() const noexcept {
  return static_cast<std::size_t>(std::count_if(ops.begin(), ops.end(), [](const trace_op& o) { return o.is_alloc; }));
}

std::size_t alloc_trace::peak_live_bytes() const noexcept {
  std::size_t live = 0, peak = 0;
  for (const trace_op& o : ops) {
    if (o.is_alloc) {
      live += o.bytes;
      peak = std::max(peak, live);
    } else {
      live -= o.bytes;  // parse_trace guarantees a free matches a live allocate of the same size
    }
  }
  return peak;
}

std::uint64_t alloc_trace::id_bound() const noexcept {
  std::uint64_t bound = 0;
  for (const trace_op& o : ops) bound = std::max(bound, o.id + 1);
  return bound;
}

alloc_trace parse_trace(std::string_view text, std::string name) {
  alloc_trace trace;
  trace.name = std::move(name);
  std::unordered_map<std::uint64_t, std::size_t> live;  // id -> bytes
  std::size_t line_no = 0;
  bool seen_header = false;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = trim_cr(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    if (!seen_header) {
      if (line != header) {
        throw std::runtime_error(fmt::format("{}:{}: expected the header \"{}\", found \"{}\"", trace.name, line_no,
                                             header, line.substr(0, 80)));
      }
      seen_header = true;
      continue;
    }
    std::string_view fields[4];
    std::size_t n = 0;
    for (std::string_view rest = line; n < 4; ++n) {
      const std::size_t comma = rest.find(',');
      fields[n] = rest.substr(0, comma);
      if (comma == std::string_view::npos) {
        rest = {};
        ++n;
        break;
      }
      rest = rest.substr(comma + 1);
      if (n == 3) {
        throw std::runtime_error(fmt::format("{}:{}: \"{}\" has more than 4 fields; expected {}", trace.name, line_no,
                                             line, header));
      }
    }
    if (n != 4) {
      throw std::runtime_error(fmt::format("{}:{}: \"{}\" has {} fields; expected {}", trace.name, line_no, line, n, header));
    }
    trace_op op;
    if (fields[0] == "a") {
      op.is_alloc = true;
    } else if (fields[0] == "f") {
      op.is_alloc = false;
    } else {
      throw std::runtime_error(fmt::format("{}:{}: op \"{}\" is neither 'a' (allocate) nor 'f' (free)", trace.name,
                                           line_no, fields[0]));
    }
    op.id = parse_field<std::uint64_t>(fields[1], "id", trace.name, line_no);
    op.bytes = parse_field<std::size_t>(fields[2], "bytes", trace.name, line_no);
    op.stream = parse_field<std::uint32_t>(fields[3], "stream", trace.name, line_no);
    if (op.is_alloc) {
      if (!live.emplace(op.id, op.bytes).second) {
        throw std::runtime_error(
            fmt::format("{}:{}: allocate of id {} while that id is still live; ids must be freed before reuse",
                        trace.name, line_no, op.id));
      }
    } else {
      auto it = live.find(op.id);
      if (it == live.end()) {
        throw std::runtime_error(fmt::format("{}:{}: free of id {} which is not live (never allocated or freed twice)",
                                             trace.name, line_no, op.id));
      }
      if (it->second != op.bytes) {
        throw std::runtime_error(fmt::format("{}:{}: free of id {} with {} B but it was allocated with {} B",
                                             trace.name, line_no, op.id, op.bytes, it->second));
      }
      live.erase(it);
    }
    trace.ops.push_back(op);
  }
  if (!seen_header) throw std::runtime_error(fmt::format("{}: empty; expected the header \"{}\"", trace.name, header));
  return trace;
}

void write_trace_header(std::ostream& out) { out << header << '\n'; }

void write_trace_op(std::ostream& out, const trace_op& op) {
  out << (op.is_alloc ? 'a' : 'f') << ',' << op.id << ',' << op.bytes << ',' << op.stream << '\n';
}

}  // namespace unimem

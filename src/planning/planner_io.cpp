// Readers for the planner's two input formats (docs/planning.md, data/README.md).
#include <unimem/planning/planner.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <istream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <zlib.h>

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
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || ptr != field.data() + field.size() || field.empty()) {
    throw std::runtime_error(fmt::format("{}:{}: {} '{}' is not a non-negative integer", source, line_no, what, field));
  }
  return v;
}

int column(const std::vector<std::string_view>& header, std::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

bool blank(const std::string& line) { return line.find_first_not_of(" \r\t") == std::string::npos; }

}  // namespace

std::vector<tensor_lifetime> parse_lifetimes_csv(std::istream& in, const std::string& source) {
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line) && blank(line)) ++line_no;
  ++line_no;
  const auto header = split(line);
  const int c_first = column(header, "first_op"), c_last = column(header, "last_op"), c_bytes = column(header, "bytes");
  if (c_first < 0 || c_last < 0 || c_bytes < 0) {
    throw std::runtime_error(fmt::format(
        "{}:{}: header '{}' lacks first_op, last_op or bytes; expected 'tensor,first_op,last_op,bytes'", source,
        line_no, line));
  }
  const std::size_t need = static_cast<std::size_t>(std::max({c_first, c_last, c_bytes})) + 1;
  std::vector<tensor_lifetime> out;
  while (std::getline(in, line)) {
    ++line_no;
    if (blank(line)) continue;
    const auto f = split(line);
    if (f.size() < need) {
      throw std::runtime_error(fmt::format("{}:{}: '{}' has {} fields, expected {}", source, line_no, line, f.size(),
                                           header.size()));
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

std::vector<tensor_lifetime> parse_alloc_trace(std::istream& in, const std::string& source) {
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line) && blank(line)) ++line_no;
  ++line_no;
  const auto header = split(line);
  const int c_op = column(header, "op"), c_id = column(header, "id"), c_bytes = column(header, "bytes");
  if (c_op < 0 || c_id < 0 || c_bytes < 0) {
    throw std::runtime_error(fmt::format(
        "{}:{}: header '{}' lacks op, id or bytes; expected 'op,id,bytes,stream'", source, line_no, line));
  }
  const std::size_t need = static_cast<std::size_t>(std::max({c_op, c_id, c_bytes})) + 1;
  std::vector<tensor_lifetime> out;
  std::unordered_map<std::string, std::size_t> open;  // id -> index in out
  std::size_t event = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (blank(line)) continue;
    const auto f = split(line);
    if (f.size() < need) {
      throw std::runtime_error(fmt::format("{}:{}: '{}' has {} fields, expected {}", source, line_no, line, f.size(),
                                           header.size()));
    }
    const std::size_t bytes = to_size(f[c_bytes], source, line_no, "bytes");
    std::string id(f[c_id]);
    if (f[c_op] == "a") {
      if (open.count(id) != 0) {
        throw std::runtime_error(
            fmt::format("{}:{}: id {} allocated again before it was freed", source, line_no, id));
      }
      open.emplace(std::move(id), out.size());
      out.push_back(tensor_lifetime{bytes, event, event, 1});
    } else if (f[c_op] == "f") {
      auto it = open.find(id);
      if (it == open.end()) {
        throw std::runtime_error(fmt::format("{}:{}: free of id {} that is not allocated", source, line_no, id));
      }
      auto& t = out[it->second];
      if (bytes != 0 && bytes != t.bytes) {
        throw std::runtime_error(fmt::format("{}:{}: free of id {} with {} B, but it was allocated with {} B", source,
                                             line_no, id, bytes, t.bytes));
      }
      t.last_op = event;
      open.erase(it);
    } else {
      throw std::runtime_error(fmt::format("{}:{}: op '{}' is neither 'a' (allocate) nor 'f' (free)", source, line_no,
                                           f[c_op]));
    }
    ++event;
  }
  // Never freed: live until the end of the trace.
  for (const auto& [id, index] : open) out[index].last_op = event == 0 ? 0 : event - 1;
  return out;
}

std::vector<tensor_lifetime> load_tensor_lifetimes(const std::string& path) {
  // gzread reads plain files unchanged, so one path serves both.
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw std::runtime_error(fmt::format("unimem::load_tensor_lifetimes: cannot open '{}'", path));
  }
  std::string text;
  std::array<char, 1 << 16> chunk{};
  int got = 0;
  while ((got = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0) text.append(chunk.data(), got);
  int err = Z_OK;
  const char* why = gzerror(file, &err);
  const std::string reason = why != nullptr ? why : "";
  gzclose(file);
  if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
    throw std::runtime_error(fmt::format("unimem::load_tensor_lifetimes: reading '{}' failed: {}", path, reason));
  }
  std::istringstream in(text);
  const std::string first_line = text.substr(0, text.find('\n'));
  const auto header = split(first_line);
  if (column(header, "first_op") >= 0) return parse_lifetimes_csv(in, path);
  if (column(header, "op") >= 0) return parse_alloc_trace(in, path);
  throw std::runtime_error(fmt::format(
      "unimem::load_tensor_lifetimes: '{}' starts with '{}', neither a lifetimes CSV "
      "(tensor,first_op,last_op,bytes) nor an allocation trace (op,id,bytes,stream)",
      path, first_line.substr(0, 80)));
}

}  // namespace unimem

// The one reader and writer of the allocation-trace format (trace.hpp).
#include <unimem/trace.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>
#include <zlib.h>

#include <unimem/error.hpp>

#include "detail/decimal.hpp"
#include "detail/size_math.hpp"
#include "detail/text_lines.hpp"
#include "detail/trace_reader.hpp"

namespace unimem {
namespace {

constexpr std::string_view example_line = "a,17,4096,0";

/// Splits `line` at commas into `fields`; returns the number of fields (may exceed `max`, in which
/// case only the first `max` are stored).
std::size_t split(std::string_view line, std::string_view* fields, std::size_t max) {
  std::size_t n = 0;
  while (true) {
    const std::size_t comma = line.find(',');
    if (n < max) fields[n] = line.substr(0, comma);
    ++n;
    if (comma == std::string_view::npos) return n;
    line.remove_prefix(comma + 1);
  }
}

/// One live allocation while reading: its dense id, its bytes and the line that made it.
struct live_allocation {
  std::uint64_t index;
  std::size_t bytes;
  std::size_t line;
};

class trace_parser {
 public:
  trace_parser(detail::text_lines& in, std::string name) : in_(in) {
    trace_.name = std::move(name);
    trace_.file_streams.push_back(0);
    stream_index_.emplace(0u, 0u);
  }

  alloc_trace run() {
    std::string_view line;
    bool header = false;
    while (in_.next(line)) {
      if (line.empty()) continue;
      if (!header) {
        read_header(line);
        header = true;
        continue;
      }
      read_op(line);
    }
    if (!header) {
      throw std::runtime_error(fmt::format("{}: empty; expected the header line \"{}\" (or \"{}\") and then lines like {}",
                                           in_.name(), detail::trace_header, detail::trace_header_without_stream,
                                           example_line));
    }
    return std::move(trace_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(fmt::format("{}:{}: {}", in_.name(), in_.line_number(), what));
  }

  void read_header(std::string_view line) {
    if (line == detail::trace_header) {
      columns_ = 4;
    } else if (line == detail::trace_header_without_stream) {
      columns_ = 3;
    } else {
      fail(fmt::format("the header is \"{}\"; expected \"{}\" (or \"{}\" when every op is on stream 0), exactly",
                       printable(line, 80), detail::trace_header, detail::trace_header_without_stream));
    }
  }

  template <class T>
  T number(std::string_view field, const char* what) const {
    T value{};
    if (!detail::read_decimal(field, value)) {
      fail(fmt::format("{} \"{}\" is not an integer from 0 to {}", what, printable(field, 40),
                       std::numeric_limits<T>::max()));
    }
    return value;
  }

  void read_op(std::string_view line) {
    std::string_view f[4];
    const std::size_t n = split(line, f, 4);
    if (n != columns_) {
      fail(fmt::format("\"{}\" has {} field{}; expected {} as the header says ({}), e.g. {}",
                       printable(line, 80), n, n == 1 ? "" : "s", columns_,
                       columns_ == 4 ? detail::trace_header : detail::trace_header_without_stream,
                       columns_ == 4 ? example_line : example_line.substr(0, example_line.size() - 2)));
    }
    trace_op op;
    if (f[0] == "a") {
      op.is_alloc = true;
    } else if (f[0] == "f") {
      op.is_alloc = false;
    } else {
      fail(fmt::format("op \"{}\" is neither 'a' (allocate) nor 'f' (free)", printable(f[0], 40)));
    }
    const auto id = number<std::uint64_t>(f[1], "id");
    op.bytes = number<std::size_t>(f[2], "bytes");
    op.stream = columns_ == 4 ? stream(number<std::uint32_t>(f[3], "stream")) : 0;
    if (op.is_alloc) {
      std::size_t live = 0;
      if (!detail::checked_add(live_bytes_, op.bytes, live)) {
        fail(fmt::format("allocate of {} B while {} B are live: more than 2^64-1 B live at once", op.bytes,
                         live_bytes_));
      }
      const auto [it, fresh] =
          live_.emplace(id, live_allocation{trace_.file_ids.size(), op.bytes, in_.line_number()});
      if (!fresh) {
        fail(fmt::format("allocate of id {} while that id is still live (allocated on line {}); free it first",
                         id, it->second.line));
      }
      op.id = trace_.file_ids.size();
      trace_.file_ids.push_back(id);
      live_bytes_ = live;
    } else {
      const auto it = live_.find(id);
      if (it == live_.end()) fail(fmt::format("free of id {} which is not live (never allocated, or freed already)", id));
      if (it->second.bytes != op.bytes) {
        fail(fmt::format("free of id {} with {} B, but line {} allocated it with {} B; a free repeats its "
                         "allocation's bytes",
                         id, op.bytes, it->second.line, it->second.bytes));
      }
      op.id = it->second.index;
      live_bytes_ -= op.bytes;
      live_.erase(it);
    }
    trace_.ops.push_back(op);
  }

  std::uint32_t stream(std::uint32_t number) {
    const auto [it, fresh] = stream_index_.emplace(number, static_cast<std::uint32_t>(trace_.file_streams.size()));
    if (fresh) trace_.file_streams.push_back(number);
    return it->second;
  }

  detail::text_lines& in_;
  alloc_trace trace_;
  std::size_t columns_ = 4;
  std::size_t live_bytes_ = 0;
  std::unordered_map<std::uint64_t, live_allocation> live_;
  std::unordered_map<std::uint32_t, std::uint32_t> stream_index_;  // file's number -> dense
};

/// The file name without folder and without .gz and .csv (in that order).
std::string trace_name(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (std::string_view ext : {std::string_view(".gz"), std::string_view(".csv")}) {
    if (name.size() > ext.size() && std::string_view(name).substr(name.size() - ext.size()) == ext) {
      name.resize(name.size() - ext.size());
    }
  }
  return name;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

namespace detail {

alloc_trace read_trace(text_lines& in, std::string name) { return trace_parser(in, std::move(name)).run(); }

}  // namespace detail

std::size_t alloc_trace::allocation_count() const noexcept {
  return static_cast<std::size_t>(std::count_if(ops.begin(), ops.end(), [](const trace_op& o) { return o.is_alloc; }));
}

std::size_t alloc_trace::peak_live_bytes() const noexcept {
  std::size_t live = 0, peak = 0;
  for (const trace_op& o : ops) {
    if (o.is_alloc) {
      if (!detail::checked_add(live, o.bytes, live)) return std::numeric_limits<std::size_t>::max();
      peak = std::max(peak, live);
    } else {
      live -= std::min(live, o.bytes);  // a parsed trace frees exactly what it allocated
    }
  }
  return peak;
}

std::uint64_t alloc_trace::id_bound() const noexcept {
  std::uint64_t bound = 0;
  for (const trace_op& o : ops) {
    if (o.id == std::numeric_limits<std::uint64_t>::max()) return o.id;  // saturates
    bound = std::max(bound, o.id + 1);
  }
  return bound;
}

std::uint32_t alloc_trace::stream_count() const noexcept {
  std::uint32_t count = 1;
  for (const trace_op& o : ops) {
    if (o.stream == std::numeric_limits<std::uint32_t>::max()) return o.stream;  // saturates
    count = std::max(count, o.stream + 1);
  }
  return count;
}

alloc_trace parse_trace(std::string_view text, std::string name) {
  detail::text_lines in(text, name);
  return detail::read_trace(in, std::move(name));
}

alloc_trace read_trace(std::istream& in, std::string name) {
  detail::text_lines lines(in, name);
  return detail::read_trace(lines, std::move(name));
}

alloc_trace load_trace(const std::string& path) {
  detail::text_lines in(path);
  return detail::read_trace(in, trace_name(path));
}

// ------------------------------------------------------------------------------------- writing

class trace_writer::sink {
 public:
  virtual ~sink() = default;
  /// Writes `n` bytes; returns the error text, empty on success.
  virtual std::string write(const char* data, std::size_t n) = 0;
  virtual std::string flush() = 0;
  virtual std::string close() = 0;
};

namespace {

class stream_sink final : public trace_writer::sink {
 public:
  explicit stream_sink(std::ostream& out) : out_(out) {}
  std::string write(const char* data, std::size_t n) override {
    out_.write(data, static_cast<std::streamsize>(n));
    return status();
  }
  std::string flush() override {
    out_.flush();
    return status();
  }
  std::string close() override { return flush(); }

 private:
  std::string status() const { return out_ ? std::string() : std::string("the output stream reported an error"); }
  std::ostream& out_;
};

class zlib_file_sink final : public trace_writer::sink {
 public:
  zlib_file_sink(const std::string& path, const std::string& name) {
    if (path.find('\0') != std::string::npos) {
      // open() would stop at the NUL and write another file than the one named.
      throw std::runtime_error(fmt::format("{}: the path contains a NUL byte; pass a plain file name", name));
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw std::runtime_error(fmt::format("{}: cannot create the trace file: {} (check that the folder exists and is "
                                           "writable)",
                                           name, std::strerror(errno)));
    }
    // "T": plain text through the same buffered path; otherwise gzip.
    file_ = gzdopen(fd, ends_with(path, ".gz") ? "wb" : "wbT");
    if (file_ == nullptr) {
      ::close(fd);
      throw std::runtime_error(fmt::format("{}: cannot open for writing (out of memory in zlib)", name));
    }
  }
  ~zlib_file_sink() override {
    if (file_ != nullptr) gzclose(file_);
  }
  zlib_file_sink(const zlib_file_sink&) = delete;
  zlib_file_sink& operator=(const zlib_file_sink&) = delete;

  std::string write(const char* data, std::size_t n) override {
    if (file_ == nullptr) return "the file is closed";
    if (gzwrite(file_, data, static_cast<unsigned>(n)) != static_cast<int>(n)) return why();
    return {};
  }
  std::string flush() override {
    if (file_ == nullptr) return {};
    if (gzflush(file_, Z_SYNC_FLUSH) != Z_OK) return why();
    return {};
  }
  std::string close() override {
    if (file_ == nullptr) return {};
    const int rc = gzclose(file_);
    file_ = nullptr;
    if (rc == Z_ERRNO) return std::strerror(errno);
    if (rc != Z_OK) return fmt::format("zlib error {}", rc);
    return {};
  }

 private:
  std::string why() const {
    int err = Z_OK;
    const char* msg = gzerror(file_, &err);
    if (err == Z_ERRNO) return std::strerror(errno);
    return msg != nullptr && *msg != '\0' ? msg : fmt::format("zlib error {}", err);
  }
  gzFile file_ = nullptr;
};

/// "a,17,4096,0\n" into `buf` (64 bytes hold the longest line, 55); returns the length.
std::size_t format_op(char (&buf)[64], const trace_op& op) {
  return fmt::format_to_n(buf, sizeof buf, "{},{},{},{}\n", op.is_alloc ? 'a' : 'f', op.id, op.bytes, op.stream).size;
}

}  // namespace

trace_writer::trace_writer(std::ostream& out, std::string name)
    : sink_(std::make_unique<stream_sink>(out)), name_(printable(name)) {
  write_header();
}

trace_writer::trace_writer(const std::string& path) : name_(printable(path)) {
  sink_ = std::make_unique<zlib_file_sink>(path, name_);
  write_header();
}

trace_writer::~trace_writer() = default;

void trace_writer::write_header() {
  const std::string header = std::string(detail::trace_header) + "\n";
  if (std::string e = sink_->write(header.data(), header.size()); !e.empty()) fail(std::move(e));
  ++lines_;
}

void trace_writer::fail(std::string what) {
  if (error_.empty()) {
    error_ = fmt::format("writing the trace to {} failed at line {}: {}", name_, lines_ + 1, what);
  }
  throw std::runtime_error(error_);
}

void trace_writer::check() {
  if (!error_.empty()) throw std::runtime_error(error_ + " (the trace stops there)");
}

void trace_writer::write(const trace_op& op) {
  check();
  if (closed_) throw std::runtime_error(fmt::format("trace_writer({}): write after close()", name_));
  char buf[64];
  if (std::string e = sink_->write(buf, format_op(buf, op)); !e.empty()) fail(std::move(e));
  ++lines_;
}

void trace_writer::flush() {
  check();
  if (closed_) return;
  if (std::string e = sink_->flush(); !e.empty()) fail(std::move(e));
}

void trace_writer::close() {
  check();
  if (closed_) return;
  closed_ = true;
  if (std::string e = sink_->close(); !e.empty()) fail(std::move(e));
}

const std::string& trace_writer::error() const noexcept { return error_; }
const std::string& trace_writer::name() const noexcept { return name_; }

namespace {

void write_all(trace_writer& w, const alloc_trace& trace) {
  const bool ids = !trace.file_ids.empty(), streams = !trace.file_streams.empty();
  for (trace_op op : trace.ops) {
    if (ids && op.id < trace.file_ids.size()) op.id = trace.file_ids[op.id];
    if (streams && op.stream < trace.file_streams.size()) op.stream = trace.file_streams[op.stream];
    w.write(op);
  }
  w.close();
}

}  // namespace

void write_trace(std::ostream& out, const alloc_trace& trace, std::string name) {
  trace_writer w(out, std::move(name));
  write_all(w, trace);
}

void save_trace(const std::string& path, const alloc_trace& trace) {
  trace_writer w(path);
  write_all(w, trace);
}

}  // namespace unimem

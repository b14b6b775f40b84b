#include "detail/text_lines.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>
#include <stdexcept>

#include <fmt/format.h>
#include <zlib.h>

#include <unimem/error.hpp>

namespace unimem::detail {
namespace {

constexpr std::size_t chunk_bytes = std::size_t{1} << 16;

bool is_binary(unsigned char c) { return (c < 0x20 && c != '\t' && c != '\r') || c == 0x7f; }

}  // namespace

class text_lines::source {
 public:
  virtual ~source() = default;
  /// Up to `max` bytes into `dst`; 0 at the end of the input.
  virtual std::size_t read(char* dst, std::size_t max) = 0;
};

namespace {

class gzip_file_source final : public text_lines::source {
 public:
  gzip_file_source(const std::string& path, const std::string& name) : name_(name) {
    if (path.find('\0') != std::string::npos) {
      // open() would stop at the NUL and read another file than the one named.
      throw std::runtime_error(fmt::format("{}: the path contains a NUL byte; pass a plain file name", name));
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw std::runtime_error(fmt::format("{}: cannot open: {} (check the path and its permissions)", name,
                                           std::strerror(errno)));
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw std::runtime_error(fmt::format("{}: is a folder; pass a file", name));
    }
    file_ = gzdopen(fd, "rb");
    if (file_ == nullptr) {
      ::close(fd);
      throw std::runtime_error(fmt::format("{}: cannot open for reading (out of memory in zlib)", name));
    }
    gzbuffer(file_, static_cast<unsigned>(chunk_bytes));
  }
  ~gzip_file_source() override { gzclose(file_); }
  gzip_file_source(const gzip_file_source&) = delete;
  gzip_file_source& operator=(const gzip_file_source&) = delete;

  std::size_t read(char* dst, std::size_t max) override {
    const int got = gzread(file_, dst, static_cast<unsigned>(std::min<std::size_t>(max, 1u << 30)));
    int err = Z_OK;
    const char* why = gzerror(file_, &err);
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
      const std::string reason = err == Z_ERRNO ? std::strerror(errno) : (why != nullptr ? why : "unknown error");
      throw std::runtime_error(
          fmt::format("{}: reading failed: {} (a damaged or truncated gzip file, or not a readable file)", name_,
                      reason));
    }
    return static_cast<std::size_t>(got);
  }

 private:
  gzFile file_ = nullptr;
  std::string name_;
};

class stream_source final : public text_lines::source {
 public:
  stream_source(std::istream& in, const std::string& name) : in_(in), name_(name) {}
  std::size_t read(char* dst, std::size_t max) override {
    in_.read(dst, static_cast<std::streamsize>(max));
    const auto got = static_cast<std::size_t>(in_.gcount());
    if (in_.bad()) throw std::runtime_error(fmt::format("{}: reading the stream failed", name_));
    return got;
  }

 private:
  std::istream& in_;
  std::string name_;
};

class memory_source final : public text_lines::source {
 public:
  explicit memory_source(std::string_view text) : text_(text) {}
  std::size_t read(char* dst, std::size_t max) override {
    const std::size_t n = std::min(max, text_.size());
    std::memcpy(dst, text_.data(), n);
    text_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view text_;
};

}  // namespace

text_lines::text_lines(const std::string& path) : name_(printable(path)) {
  source_ = std::make_unique<gzip_file_source>(path, name_);
}

text_lines::text_lines(std::istream& in, std::string name) : name_(printable(name)) {
  source_ = std::make_unique<stream_source>(in, name_);
}

text_lines::text_lines(std::string_view text, std::string name)
    : source_(std::make_unique<memory_source>(text)), name_(printable(name)) {}

text_lines::~text_lines() = default;

bool text_lines::refill() {
  if (end_) return false;
  buffer_.erase(0, begin_);
  begin_ = 0;
  const std::size_t old = buffer_.size();
  buffer_.resize(old + chunk_bytes);
  const std::size_t got = source_->read(buffer_.data() + old, chunk_bytes);
  buffer_.resize(old + got);
  if (got == 0) end_ = true;
  return got != 0;
}

bool text_lines::next(std::string_view& line) {
  std::size_t end = std::string::npos;
  while (true) {
    end = buffer_.find('\n', begin_);
    if (end != std::string::npos) break;
    // One byte more than the limit may be the \r of a \r\n line end.
    if (buffer_.size() - begin_ > max_line_bytes + 1) break;
    if (!refill()) {
      if (begin_ == buffer_.size()) {
        line = {};
        return false;
      }
      end = buffer_.size();
      break;
    }
  }
  const std::size_t stop = end == std::string::npos ? buffer_.size() : end;
  std::string_view l(buffer_.data() + begin_, stop - begin_);
  ++line_number_;
  if (line_number_ == 1 && l.size() >= 2 && static_cast<unsigned char>(l[0]) == 0x1f &&
      static_cast<unsigned char>(l[1]) == 0x8b) {
    throw std::runtime_error(fmt::format(
        "{}: gzip-compressed data; read it from its file path (which decompresses it), or decompress it first",
        name_));
  }
  const auto bad = std::find_if(l.begin(), l.end(), [](char c) { return is_binary(static_cast<unsigned char>(c)); });
  if (bad != l.end()) {
    throw std::runtime_error(fmt::format("{}:{}: byte 0x{:02x} at column {} is not text: a binary file, not a CSV table",
                                         name_, line_number_, static_cast<unsigned char>(*bad),
                                         static_cast<std::size_t>(bad - l.begin()) + 1));
  }
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (end == std::string::npos || l.size() > max_line_bytes) {
    throw std::runtime_error(fmt::format("{}:{}: the line is longer than {} bytes: not a CSV table unimem reads",
                                         name_, line_number_, max_line_bytes));
  }
  last_begin_ = begin_;
  begin_ = std::min(stop + 1, buffer_.size());
  line = l;
  return true;
}

void text_lines::unread() noexcept {
  if (line_number_ == 0) return;
  begin_ = last_begin_;
  --line_number_;
}

}  // namespace unimem::detail

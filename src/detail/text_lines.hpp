// Internal: the one way unimem reads a line-oriented text file (allocation traces, lifetimes CSVs):
// plain or gzip from a path, or plain from a stream or from memory. Not installed.
//
// What a file holds is not trusted: a line longer than max_line_bytes, or a byte that no text table
// holds (NUL and the other control characters but tab and carriage return), ends the read with an
// error naming the file and the line, so that /dev/zero or a binary file is refused at once
// instead of being read until memory runs out.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

namespace unimem::detail {

class text_lines {
 public:
  /// Longest line accepted, in bytes, its end of line excluded.
  static constexpr std::size_t max_line_bytes = 4096;

  /// Opens `path` for reading; gzip-compressed files are decompressed (zlib reads plain files
  /// unchanged). Errors name the file as given.
  /// @throws std::runtime_error when the path cannot be opened or is a folder
  explicit text_lines(const std::string& path);
  /// Reads plain text from `in`; `name` names it in errors.
  text_lines(std::istream& in, std::string name);
  /// Reads plain text from `text`, which must outlive this reader; `name` names it in errors.
  text_lines(std::string_view text, std::string name);
  ~text_lines();
  text_lines(const text_lines&) = delete;
  text_lines& operator=(const text_lines&) = delete;

  /// The next line without its end of line (\n, or \r\n); false at the end of the input. The view
  /// stays valid until the next call.
  /// @throws std::runtime_error naming the file and line: a line that is too long, a binary byte,
  ///         a read or decompression error
  bool next(std::string_view& line);
  /// Makes the next call to next() return the line it returned last again (one line of look-ahead).
  void unread() noexcept;
  /// The number of the line next() returned last, counting from 1.
  std::size_t line_number() const noexcept { return line_number_; }
  /// The input's name, printable (control characters escaped), as errors show it.
  const std::string& name() const noexcept { return name_; }

  class source;  // where the bytes come from (gzip file, stream, memory)

 private:
  bool refill();

  std::unique_ptr<source> source_;
  std::string name_;
  std::string buffer_;
  std::size_t begin_ = 0;  // first byte not returned yet
  std::size_t last_begin_ = 0;
  std::size_t line_number_ = 0;
  bool end_ = false;
};

}  // namespace unimem::detail

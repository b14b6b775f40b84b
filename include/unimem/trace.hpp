/// @file trace.hpp
/// @brief The allocation-trace CSV format (BRIEF §5) and its one reader and writer.
///
/// A trace is a header line, `op,id,bytes,stream` or `op,id,bytes` (no stream column: every op
/// on stream 0), then one line per call: `op` is `a` (allocate) or `f` (free); `id` pairs a free
/// with its allocate and is any unsigned 64-bit integer; `bytes` is the request (a free repeats its
/// allocation's bytes exactly; zero-byte allocations are allowed); `stream` is any unsigned 32-bit
/// integer naming the stream, 0 being the default stream. Blank lines are skipped, `\r\n` line ends
/// accepted; nothing else is: no other or reordered columns, no spaces, no signs. An id may be
/// reused once freed; allocations still live at the end are allowed (weights, optimizer state).
///
/// logging_resource writes this format; unimem-replay, the replay benchmark and the planner
/// (`tensor_lifetimes`, planning/planner.hpp) read it through load_trace / parse_trace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace unimem {

/// @brief One call of a trace.
///
/// In a parsed alloc_trace, `id` and `stream` are dense indices, not the numbers of the file:
/// `id` is the allocation's rank among the trace's allocates (0, 1, 2, ... in order; a free carries
/// the rank of its allocate) and `stream` the stream's rank (0 is the default stream, then the
/// others in order of first use), so a table indexed by them needs alloc_trace::id_bound() and
/// alloc_trace::stream_count() entries, whatever numbers the file used. The file's numbers are in
/// alloc_trace::file_ids and alloc_trace::file_streams. trace_writer writes its ops as given.
struct trace_op {
  bool is_alloc = true;      ///< `a` (true) or `f` (false)
  std::uint64_t id = 0;      ///< pairs a free with its allocate (see above)
  std::size_t bytes = 0;     ///< requested bytes (repeated on the free)
  std::uint32_t stream = 0;  ///< stream; 0 is the default stream
};

/// @brief A parsed, validated trace.
struct alloc_trace {
  std::string name;                        ///< where it came from (file name without .csv/.gz)
  std::vector<trace_op> ops;               ///< ids and streams renumbered densely (see trace_op)
  std::vector<std::uint64_t> file_ids;     ///< the file's id of allocation k (k = trace_op::id)
  std::vector<std::uint32_t> file_streams;  ///< the file's number of stream k; file_streams[0] == 0

  /// @brief Number of allocate lines.
  std::size_t allocation_count() const noexcept;
  /// @brief Largest sum of live requested bytes at any point (saturates at SIZE_MAX).
  std::size_t peak_live_bytes() const noexcept;
  /// @brief One more than the largest trace_op::id: the size of a table indexed by id (for a
  /// parsed trace, allocation_count()).
  std::uint64_t id_bound() const noexcept;
  /// @brief One more than the largest trace_op::stream, at least 1.
  std::uint32_t stream_count() const noexcept;
};

/// @brief Parses trace text (plain, not compressed).
/// @param text   the whole trace
/// @param name   names the input in errors; stored as alloc_trace::name
/// @throws std::runtime_error naming the input, the line, the value and what is expected: a
///         missing or other header, an unknown op, a field that is not an integer in range, a
///         wrong number of fields, a free of an id that is not live, an allocate of an id already
///         live, a free whose bytes differ from its allocate, live bytes beyond 2^64-1, a line
///         longer than 4096 bytes or a binary byte
alloc_trace parse_trace(std::string_view text, std::string name = "trace");

/// @brief Reads a trace from `in` (plain text) with the rules of parse_trace.
alloc_trace read_trace(std::istream& in, std::string name = "<stream>");

/// @brief Reads a trace file, plain or gzip-compressed. alloc_trace::name is the file name
/// without its folder and its .gz / .csv extensions.
/// @throws std::runtime_error as parse_trace, and when the file cannot be opened or decompressed
alloc_trace load_trace(const std::string& path);

/// @brief Writes a trace line by line: the header at construction, then one line per write().
/// Every write error (a full disk, /dev/full, a closed pipe) is reported, never dropped: write(),
/// flush() and close() throw std::runtime_error naming the destination and the line, and once one
/// write has failed every later write() throws too (the trace would have a gap).
class trace_writer {
 public:
  /// @param out   plain text goes here; must outlive the writer
  /// @param name  names `out` in errors
  explicit trace_writer(std::ostream& out, std::string name = "<stream>");
  /// @brief Creates or replaces the file `path`, gzip-compressed when it ends in ".gz".
  /// @throws std::runtime_error when the file cannot be created
  explicit trace_writer(const std::string& path);
  /// @brief Closes the file. An error at that point cannot be reported: call close() first.
  ~trace_writer();
  trace_writer(const trace_writer&) = delete;
  trace_writer& operator=(const trace_writer&) = delete;

  /// @brief Writes one line with the op's id, bytes and stream as they are.
  void write(const trace_op& op);
  /// @brief Pushes what is buffered to the destination.
  void flush();
  /// @brief Flushes and closes (a file); later writes throw.
  void close();
  /// @brief The first error met, or empty.
  const std::string& error() const noexcept;
  /// @brief The destination as errors name it.
  const std::string& name() const noexcept;

  class sink;  // where the text goes (a stream or a zlib file)

 private:
  void write_header();
  [[noreturn]] void fail(std::string what);
  void check();

  std::unique_ptr<sink> sink_;
  std::string name_;
  std::string error_;
  std::uint64_t lines_ = 0;  // written, the header included
  bool closed_ = false;
};

/// @brief Writes a whole trace as text: with the file's ids and streams (file_ids, file_streams)
/// when the trace has them, the ops' own otherwise, so that parse_trace gives the trace back.
/// @throws std::runtime_error on a write error
void write_trace(std::ostream& out, const alloc_trace& trace, std::string name = "<stream>");

/// @brief Writes a whole trace to `path` (gzip when it ends in ".gz"), as write_trace.
/// @throws std::runtime_error when the file cannot be created or written
void save_trace(const std::string& path, const alloc_trace& trace);

}  // namespace unimem

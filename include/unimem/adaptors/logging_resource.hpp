/// @file logging_resource.hpp
/// @brief Adaptor that writes every allocate and free as a trace (the CSV format of trace.hpp),
/// which unimem-replay and the replay benchmark read back.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief Forwards to `upstream` and writes `op,id,bytes,stream` lines: `a` after each
/// successful allocate, `f` after each successful free. Ids count from 0 in allocation order;
/// streams are numbered 0 for the default streams and 1, 2, ... for others in order of first
/// use. A free of a pointer it did not hand out, a double free or a size or alignment other than
/// the allocation's throws std::invalid_argument before anything is forwarded or written.
/// Thread-safe (lines never interleave). Keeps the upstream's traits.
///
/// Write errors (a full disk, /dev/full) are never dropped: the allocate whose line cannot be
/// written is undone and throws std::runtime_error naming the destination, and so does every later
/// allocate (the trace would have a gap); a free always frees, and its write error is reported by
/// the next allocate, flush() or close(). The destructor, which cannot throw, prints an error that
/// was never reported to stderr.
class logging_resource final : public memory_resource {
 public:
  /// @param upstream must outlive the adaptor
  /// @param out      must outlive the adaptor; the header line is written at once
  logging_resource(memory_resource& upstream, std::ostream& out);
  /// @brief Writes to a new file at `path` (replacing it), gzip-compressed when it ends in ".gz".
  /// @throws std::runtime_error when the file cannot be created
  logging_resource(memory_resource& upstream, const std::string& path);
  ~logging_resource() override;

  memory_resource& upstream() const noexcept { return *upstream_; }
  /// @brief Pushes what is written to the destination.
  /// @throws std::runtime_error when a write failed, now or earlier
  void flush();
  /// @brief Flushes and closes the trace (a file: completes its gzip stream); later allocations
  /// throw. The destructor closes too, but cannot report an error.
  /// @throws std::runtime_error when a write failed, now or earlier
  void close();

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override { return upstream_->traits(); }
  std::string_view do_name() const noexcept override { return "unimem::logging_resource"; }

  memory_resource* upstream_;
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace unimem

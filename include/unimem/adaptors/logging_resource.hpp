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
/// use. Thread-safe (lines never interleave). Keeps the upstream's traits.
class logging_resource final : public memory_resource {
 public:
  /// @param upstream must outlive the adaptor
  /// @param out      must outlive the adaptor; the header line is written at once
  logging_resource(memory_resource& upstream, std::ostream& out);
  /// @brief Writes to a new file at `path` (replacing it).
  /// @throws std::runtime_error when the file cannot be opened
  logging_resource(memory_resource& upstream, const std::string& path);
  ~logging_resource() override;

  memory_resource& upstream() const noexcept { return *upstream_; }
  /// @brief Flushes the stream (the destructor does too).
  void flush();

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

#include <unimem/adaptors/logging_resource.hpp>

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/trace.hpp>

#include "adaptors/live_allocations.hpp"
#include "detail/cuda_check.hpp"

namespace unimem {

struct logging_resource::state {
  std::mutex mutex;
  trace_writer writer;
  std::uint64_t next_id = 0;
  detail::live_allocations<std::uint64_t> ids;  // checks each free; its trace id
  std::vector<stream_view> streams;  // numbered from 1
  bool reported = false;  // the writer's error reached the caller (a throw)
  bool closed = false;

  template <class Out>
  explicit state(Out& out_or_path) : writer(out_or_path) {}

  std::uint32_t number(stream_view s) {
    if (s.is_default()) return 0;
    for (std::size_t i = 0; i < streams.size(); ++i) {
      if (streams[i] == s) return static_cast<std::uint32_t>(i + 1);
    }
    streams.push_back(s);
    return static_cast<std::uint32_t>(streams.size());
  }

  /// Runs a writer call; an error is marked as reported because it is thrown to the caller.
  template <class F>
  void reporting(F&& f) {
    try {
      f();
    } catch (...) {
      reported = true;
      throw;
    }
  }
};

logging_resource::logging_resource(memory_resource& upstream, std::ostream& out)
    : upstream_(&upstream), state_(std::make_unique<state>(out)) {}

logging_resource::logging_resource(memory_resource& upstream, const std::string& path) : upstream_(&upstream) {
  try {
    state_ = std::make_unique<state>(path);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("unimem::logging_resource(\"{}\"): {}", printable(path), e.what()));
  }
}

logging_resource::~logging_resource() {
  try {
    close();
  } catch (const std::exception& e) {
    if (!state_->reported) std::fprintf(stderr, "unimem::logging_resource: %s\n", e.what());
  }
}

void logging_resource::flush() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->reporting([&] { state_->writer.flush(); });
}

void logging_resource::close() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->closed = true;
  state_->reporting([&] { state_->writer.close(); });
}

void* logging_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->closed) {
      throw std::logic_error(fmt::format("unimem::logging_resource::allocate({} B): the trace {} is closed",
                                         bytes, state_->writer.name()));
    }
  }
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes, alignment, stream);
  } catch (const out_of_memory& e) {
    detail::rethrow_out_of_memory(e, "unimem::logging_resource");
  }
  try {
    std::lock_guard<std::mutex> lock(state_->mutex);
    const std::uint64_t id = state_->next_id;
    state_->reporting([&] { state_->writer.write(trace_op{true, id, bytes, state_->number(stream)}); });
    state_->ids.add(p, {bytes, alignment, id});
    ++state_->next_id;
  } catch (const std::runtime_error& e) {
    upstream_->deallocate(p, bytes, alignment, stream);
    throw std::runtime_error(
        fmt::format("unimem::logging_resource::allocate({} B): {}; nothing was allocated", bytes, e.what()));
  } catch (...) {
    upstream_->deallocate(p, bytes, alignment, stream);
    throw;
  }
  return p;
}

void logging_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  const auto r = state_->ids.free_checked(state_->mutex, "unimem::logging_resource", p, bytes, alignment,
                                          [&](const auto&) { upstream_->deallocate(p, bytes, alignment, stream); });
  std::lock_guard<std::mutex> lock(state_->mutex);
  // The memory is freed whatever happens to the line: a free must not throw after freeing (it is
  // called from destructors). The writer keeps the error for the next allocate, flush or close.
  try {
    state_->writer.write(trace_op{false, r.datum, bytes, state_->number(stream)});
  } catch (const std::exception&) {
  }
}

}  // namespace unimem

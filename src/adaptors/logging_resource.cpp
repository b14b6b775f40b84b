#include <unimem/adaptors/logging_resource.hpp>

#include <fstream>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/trace.hpp>

#include "detail/cuda_check.hpp"

namespace unimem {

struct logging_resource::state {
  std::mutex mutex;
  std::unique_ptr<std::ofstream> file;  // when the adaptor opened the file itself
  std::ostream* out = nullptr;
  std::uint64_t next_id = 0;
  std::unordered_map<void*, std::uint64_t> ids;
  std::vector<stream_view> streams;  // numbered from 1

  std::uint32_t number(stream_view s) {
    if (s.is_default()) return 0;
    for (std::size_t i = 0; i < streams.size(); ++i) {
      if (streams[i] == s) return static_cast<std::uint32_t>(i + 1);
    }
    streams.push_back(s);
    return static_cast<std::uint32_t>(streams.size());
  }
};

logging_resource::logging_resource(memory_resource& upstream, std::ostream& out)
    : upstream_(&upstream), state_(std::make_unique<state>()) {
  state_->out = &out;
  write_trace_header(out);
}

logging_resource::logging_resource(memory_resource& upstream, const std::string& path)
    : upstream_(&upstream), state_(std::make_unique<state>()) {
  state_->file = std::make_unique<std::ofstream>(path, std::ios::out | std::ios::trunc);
  if (!*state_->file) {
    throw std::runtime_error(fmt::format(
        "unimem::logging_resource(\"{}\"): cannot open the file for writing; check that the folder exists and is "
        "writable",
        path));
  }
  state_->out = state_->file.get();
  write_trace_header(*state_->out);
}

logging_resource::~logging_resource() {
  try {
    flush();
  } catch (...) {
  }
}

void logging_resource::flush() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->out->flush();
}

void* logging_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes, alignment, stream);
  } catch (const out_of_memory& e) {
    detail::rethrow_out_of_memory(e, "unimem::logging_resource");
  }
  try {
    std::lock_guard<std::mutex> lock(state_->mutex);
    const std::uint64_t id = state_->next_id;
    state_->ids.emplace(p, id);
    ++state_->next_id;
    write_trace_op(*state_->out, trace_op{true, id, bytes, state_->number(stream)});
  } catch (...) {
    upstream_->deallocate(p, bytes, alignment, stream);
    throw;
  }
  return p;
}

void logging_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  std::uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->ids.find(p);
    if (it == state_->ids.end()) {
      throw std::invalid_argument(fmt::format(
          "unimem::logging_resource::deallocate({}, {} B, alignment {}): no live allocation of this adaptor starts "
          "here (freed twice, or from another resource); nothing was freed",
          p, bytes, alignment));
    }
    id = it->second;
  }
  upstream_->deallocate(p, bytes, alignment, stream);
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->ids.erase(p);
  write_trace_op(*state_->out, trace_op{false, id, bytes, state_->number(stream)});
}

}  // namespace unimem

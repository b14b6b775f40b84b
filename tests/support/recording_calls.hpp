// Test support: a cuda_calls that records every call instead of making it, so the decisions of
// prefetch, advise, attach, host_access, copy and frame_pipeline can be checked call by call
// against the simulated device profiles, without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <unimem/error.hpp>

#include <unimem/movement/cuda_calls.hpp>

namespace unimem::test {

/// One recorded call, printed like "attach(s1, 0x10, host)". Streams and events are named s0/s1
/// (s0 = the default stream) and e1/e2 so expected sequences can be written as strings.
class recording_calls final : public cuda_calls {
 public:
  /// When true, memcpy_async really copies with std::memcpy, for pipelines over fake resources
  /// whose "device" memory is host memory: the data path is then checked end to end.
  bool execute_copies = false;
  /// What event_ready answers.
  bool events_ready = false;
  /// A call whose text starts with this prefix is recorded, then fails with cuda_error (fault
  /// injection); empty: nothing fails.
  std::string fail_prefix;

  void mem_prefetch_async(const void* p, std::size_t bytes, location to, stream_view stream) override {
    log("prefetch(" + ptr(p) + ", " + std::to_string(bytes) + ", " + to_string(to) + ", " + name(stream) + ")");
  }
  void mem_advise(const void* p, std::size_t bytes, mem_advice advice, location where) override {
    log("advise(" + ptr(p) + ", " + std::to_string(bytes) + ", " + std::string(to_string(advice)) + ", " +
        to_string(where) + ")");
  }
  void stream_attach_mem_async(stream_view stream, void* p, attach_mode mode) override {
    log("attach(" + name(stream) + ", " + ptr(p) + ", " + std::string(to_string(mode)) + ")");
  }
  void stream_synchronize(stream_view stream) override { log("sync(" + name(stream) + ")"); }
  void device_synchronize() override { log("device_sync()"); }
  void memcpy_async(void* dst, const void* src, std::size_t bytes, stream_view stream) override {
    log("memcpy(" + ptr(dst) + ", " + ptr(src) + ", " + std::to_string(bytes) + ", " + name(stream) + ")");
    if (execute_copies) std::memcpy(dst, src, bytes);
  }
  CUstream_st* stream_create() override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++live_streams;
    return reinterpret_cast<CUstream_st*>(std::uintptr_t{++streams_made_});
  }
  void stream_destroy(CUstream_st* s) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (s != nullptr) --live_streams;
  }
  CUevent_st* event_create() override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++live_events;
    return reinterpret_cast<CUevent_st*>(std::uintptr_t{++events_made_});
  }
  void event_destroy(CUevent_st* e) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (e != nullptr) --live_events;
  }
  void event_record(CUevent_st* e, stream_view s) override { log("record(" + name(e) + ", " + name(s) + ")"); }
  void event_synchronize(CUevent_st* e) override { log("wait(" + name(e) + ")"); }
  bool event_ready(CUevent_st* e) override {
    log("query(" + name(e) + ")");
    return events_ready;
  }

  /// The calls so far.
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  /// The calls so far, then forgets them.
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    out.swap(calls_);
    return out;
  }
  /// Calls so far whose text starts with `prefix`.
  std::size_t count(const std::string& prefix) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t n = 0;
    for (const auto& c : calls_) n += c.compare(0, prefix.size(), prefix) == 0;
    return n;
  }

  /// Names pointers in the log: "p" for the pointer registered as such, else its address.
  void name_pointer(const void* p, std::string n) { pointer_names_.push_back({p, std::move(n)}); }

  static stream_view fake_stream(std::uintptr_t n) { return stream_view{reinterpret_cast<CUstream_st*>(n)}; }

  int live_streams = 0;
  int live_events = 0;

 private:
  void log(std::string c) {
    bool fail = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fail = !fail_prefix.empty() && c.compare(0, fail_prefix.size(), fail_prefix) == 0;
      calls_.push_back(c);
    }
    if (fail) throw cuda_error(c, 1 /* cudaErrorInvalidValue */, "injected by recording_calls");
  }
  std::string ptr(const void* p) const {
    for (const auto& [q, n] : pointer_names_) {
      if (q == p) return n;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", p);
    return buf;
  }
  static std::string name(stream_view s) { return "s" + std::to_string(reinterpret_cast<std::uintptr_t>(s.value())); }
  static std::string name(CUevent_st* e) { return "e" + std::to_string(reinterpret_cast<std::uintptr_t>(e)); }

  mutable std::mutex mutex_;
  std::vector<std::string> calls_;
  std::vector<std::pair<const void*, std::string>> pointer_names_;
  std::uintptr_t streams_made_ = 0;
  std::uintptr_t events_made_ = 0;
};

}  // namespace unimem::test

// Test support: a stream_event_source whose events complete when the test says so, so the pools'
// stream ordering is tested without a GPU. Streams are plain handles (fake_stream(1), ...).
#pragma once

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include <unimem/stream_events.hpp>

namespace unimem::test {

/// A stream handle for tests; never dereferenced.
inline stream_view fake_stream(std::uintptr_t n) { return stream_view{reinterpret_cast<CUstream_st*>(n * 64)}; }

class manual_event_source final : public stream_event_source {
 public:
  token record(stream_view s) override {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(event{s, false, false});
    ++records_;
    return static_cast<token>(events_.size() - 1);
  }
  bool ready(token t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++queries_;
    return events_.at(t).done;
  }
  void synchronize(token t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++synchronizes_;
    events_.at(t).done = true;  // "waiting" finishes the stream's work
  }
  void release(token t) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    events_[t].released = true;
  }
  /// A device-side wait: `s`'s later work follows the event's; nothing completes on the host.
  void wait(stream_view s, token t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++waits_;
    waited_.push_back({s, events_.at(t).stream});
  }

  /// Everything queued on `s` so far has finished.
  void complete(stream_view s) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (event& e : events_) {
      if (e.stream == s) e.done = true;
    }
  }
  int records() const { std::lock_guard<std::mutex> lock(mutex_); return records_; }
  int queries() const { std::lock_guard<std::mutex> lock(mutex_); return queries_; }
  int synchronizes() const { std::lock_guard<std::mutex> lock(mutex_); return synchronizes_; }
  int waits() const { std::lock_guard<std::mutex> lock(mutex_); return waits_; }
  /// (waiting stream, stream of the event it waited for), in order.
  std::vector<std::pair<stream_view, stream_view>> waited() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return waited_;
  }
  /// Events recorded and not yet released.
  int outstanding() const {
    std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (const event& e : events_) n += e.released ? 0 : 1;
    return n;
  }

 private:
  struct event {
    stream_view stream;
    bool done;
    bool released;
  };
  mutable std::mutex mutex_;
  std::vector<event> events_;
  int records_ = 0;
  int queries_ = 0;
  int synchronizes_ = 0;
  int waits_ = 0;
  std::vector<std::pair<stream_view, stream_view>> waited_;
};

}  // namespace unimem::test

// Internal: per-stream bookkeeping shared by the stream-ordered pools. Not installed.
//
// Every free on a stream gets a stamp (that stream's count of frees so far). Memory freed on a
// stream may be reused on that stream at once (stream order protects it); another stream may
// use it once the stamp is covered by a completed event. One event per stream is in flight at a
// time: the first free after the last completion records it (an event "recorded at free time"),
// later frees are covered by the next one, recorded when another stream asks. A single-stream
// program therefore records one event in the pool's lifetime.
//
// Memory of stream t may also go to stream s before t's event completes: s waits on an event of
// t that covers the free (stream_event_source::wait, cudaStreamWaitEvent), so s's later work runs
// after t's. The event is recorded then if the one in flight does not cover the free yet, so the
// wait covers every free of t so far; later frees of t up to that point need no further wait.
#pragma once

#include <cstdint>
#include <vector>

#include <unimem/stream.hpp>
#include <unimem/stream_events.hpp>

namespace unimem::detail {

class stream_slots {
 public:
  /// Slot 0 stands for "no pending work": memory there is free for every stream.
  static constexpr std::uint32_t settled = 0;

  /// @param events null: the memory is never touched by GPU work (a host-only upstream), so
  ///        every free settles at once and streams are not told apart.
  explicit stream_slots(stream_event_source* events) : events_(events) { slots_.emplace_back(); }

  ~stream_slots() {
    if (events_ == nullptr) return;
    for (slot& s : slots_) {
      if (s.in_flight) events_->release(s.token);
    }
  }

  stream_slots(const stream_slots&) = delete;
  stream_slots& operator=(const stream_slots&) = delete;

  bool ordered() const noexcept { return events_ != nullptr; }
  std::uint32_t count() const noexcept { return static_cast<std::uint32_t>(slots_.size()); }
  stream_view stream(std::uint32_t i) const noexcept { return slots_[i].stream; }

  /// The slot that owns memory freed on `s` (settled when not ordered).
  std::uint32_t slot_of(stream_view s) {
    if (events_ == nullptr) return settled;
    if (slots_[last_].stream == s && last_ != settled) return last_;
    for (std::uint32_t i = 1; i < slots_.size(); ++i) {
      if (slots_[i].stream == s) return last_ = i;
    }
    slots_.emplace_back();
    slots_.back().stream = s;
    return last_ = static_cast<std::uint32_t>(slots_.size() - 1);
  }

  /// Called on every free on slot `i`; returns the block's stamp.
  std::uint64_t note_free(std::uint32_t i) {
    slot& s = slots_[i];
    ++s.frees;
    if (i != settled && !s.in_flight) record(s);
    return s.frees;
  }

  /// Stamps up to the returned value are complete. Never blocks; may record an event so that
  /// frees not yet covered become visible to a later call.
  std::uint64_t poll(std::uint32_t i) {
    slot& s = slots_[i];
    if (i == settled) return s.frees;
    if (s.in_flight && events_->ready(s.token)) retire(s);
    if (!s.in_flight && s.frees > s.completed) record(s);
    return s.completed;
  }

  /// Orders work queued on slot `s` from now on after the work that preceded stamp `stamp` of
  /// slot `t`, without blocking (an event of t waited for by s). Waits only when s has not
  /// already waited for an event that covers the stamp, and then on one that covers every free
  /// of t so far (recorded now if the one in flight does not).
  void order_after(std::uint32_t s, std::uint32_t t, std::uint64_t stamp) {
    if (t == settled || s == t) return;
    slot& ts = slots_[t];
    if (ts.completed >= stamp) return;
    std::vector<std::uint64_t>& waited = slots_[s].waited;
    if (waited.size() <= t) waited.resize(t + 1, 0);
    if (waited[t] >= stamp) return;
    if (ts.in_flight && ts.covered < ts.frees) {
      // Replace the stale event with one covering every free so far: one wait then covers all
      // the memory t has freed, not only the block asked for.
      events_->release(ts.token);
      ts.in_flight = false;
    }
    if (!ts.in_flight) record(ts);
    events_->wait(slots_[s].stream, ts.token);
    waited[t] = ts.covered;
    ++waits_;
  }

  /// Waits enqueued by order_after (statistics).
  std::uint64_t waits() const noexcept { return waits_; }

  /// Like poll() but blocks until every free so far on slot `i` is complete. Only used before
  /// giving up with out_of_memory: it waits for one stream, never for the whole device.
  std::uint64_t wait(std::uint32_t i) {
    slot& s = slots_[i];
    if (i == settled) return s.frees;
    if (s.in_flight && s.covered < s.frees) {
      // The event in flight does not cover the latest frees: wait on a fresh one instead.
      events_->release(s.token);
      s.in_flight = false;
    }
    if (!s.in_flight && s.frees > s.completed) record(s);
    if (s.in_flight) {
      events_->synchronize(s.token);
      retire(s);
    }
    return s.completed;
  }

 private:
  struct slot {
    stream_view stream{};
    std::uint64_t frees = 0;      // stamps handed out
    std::uint64_t completed = 0;  // stamps known complete
    std::uint64_t covered = 0;    // stamps the event in flight covers
    stream_event_source::token token = 0;
    bool in_flight = false;
    std::vector<std::uint64_t> waited;  // per other slot: its stamps this one has waited for
  };

  void record(slot& s) {
    s.token = events_->record(s.stream);
    s.covered = s.frees;
    s.in_flight = true;
  }

  void retire(slot& s) {
    s.completed = s.covered;
    events_->release(s.token);
    s.in_flight = false;
  }

  stream_event_source* events_;
  std::vector<slot> slots_;
  std::uint32_t last_ = settled;
  std::uint64_t waits_ = 0;
};

}  // namespace unimem::detail

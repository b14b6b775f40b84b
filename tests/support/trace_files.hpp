// Test support: replaying allocation traces through a resource with every live block checked for
// overlap.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <unimem/memory_resource.hpp>
#include <unimem/trace.hpp>

#include "support/test_upstreams.hpp"

namespace unimem::test {

/// Replays `trace` once through `mr` on `streams` (indexed by the trace's stream numbers), then
/// frees what it left live, newest first, as unimem-replay does between passes. Returns an empty
/// string, or what went wrong (an overlap).
inline std::string replay_pass(const alloc_trace& trace, memory_resource& mr, const std::vector<stream_view>& streams) {
  std::vector<void*> ptr(trace.id_bound(), nullptr);
  std::vector<char> live(trace.id_bound(), 0);
  overlap_checker check;
  for (const trace_op& op : trace.ops) {
    if (op.is_alloc) {
      ptr[op.id] = mr.allocate(op.bytes, default_alignment, streams.at(op.stream));
      const std::string hit = check.add(ptr[op.id], op.bytes);
      if (!hit.empty()) return "allocation " + std::to_string(op.id) + " " + hit;
      live[op.id] = 1;
    } else {
      check.remove(ptr[op.id]);
      mr.deallocate(ptr[op.id], op.bytes, default_alignment, streams.at(op.stream));
      live[op.id] = 0;
    }
  }
  for (auto it = trace.ops.rbegin(); it != trace.ops.rend(); ++it) {
    if (it->is_alloc && live[it->id]) {
      mr.deallocate(ptr[it->id], it->bytes, default_alignment, streams.at(it->stream));
      live[it->id] = 0;
    }
  }
  return {};
}

}  // namespace unimem::test

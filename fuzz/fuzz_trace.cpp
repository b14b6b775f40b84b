// libFuzzer target: the allocation-trace reader (parse_trace) and what the planner makes of a
// trace (tensor_lifetimes). Any text is either refused with std::runtime_error or read into a
// trace whose ids and streams are dense and whose every free matches a live allocate; writing it
// back and reading that again gives the same operations.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unimem/planning/planner.hpp>
#include <unimem/trace.hpp>

#include "fuzz_input.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) unimem::fuzz::fail("fuzz_trace", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  unimem::alloc_trace t;
  try {
    t = unimem::parse_trace(text, "fuzz");
  } catch (const std::runtime_error&) {
    return 0;  // refused with a message: what a hostile file must get
  }
  const std::uint64_t ids = t.id_bound();
  const std::uint32_t streams = t.stream_count();
  check(ids == t.allocation_count(), "ids are not dense");
  check(t.file_ids.size() == ids, "file_ids does not name every allocation");
  check(t.file_streams.size() == streams && !t.file_streams.empty() && t.file_streams[0] == 0,
        "file_streams does not name every stream");
  std::vector<std::size_t> live(static_cast<std::size_t>(ids), 0);
  std::vector<bool> is_live(static_cast<std::size_t>(ids), false);
  std::uint64_t next = 0;
  for (const auto& op : t.ops) {
    check(op.id < ids && op.stream < streams, "an op is out of the dense ranges");
    if (op.is_alloc) {
      check(op.id == next++, "allocations are not numbered in order");
      live[op.id] = op.bytes;
      is_live[op.id] = true;
    } else {
      check(is_live[op.id] && live[op.id] == op.bytes, "a free does not match a live allocate");
      is_live[op.id] = false;
    }
  }
  (void)t.peak_live_bytes();
  // Written back and read again: the same operations.
  std::ostringstream out;
  unimem::write_trace(out, t, "fuzz");
  const unimem::alloc_trace again = unimem::parse_trace(out.str(), "again");
  check(again.ops.size() == t.ops.size(), "the written trace reads back differently");
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    check(again.ops[i].is_alloc == t.ops[i].is_alloc && again.ops[i].id == t.ops[i].id &&
              again.ops[i].bytes == t.ops[i].bytes && again.ops[i].stream == t.ops[i].stream,
          "the written trace reads back differently");
  }
  const auto lifetimes = unimem::tensor_lifetimes(t);
  check(lifetimes.size() == t.allocation_count(), "one lifetime per allocation");
  for (const auto& l : lifetimes) check(l.first_op <= l.last_op && l.last_op < t.ops.size(), "a lifetime is outside");
  return 0;
}

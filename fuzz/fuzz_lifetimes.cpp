// libFuzzer target: the planner's text inputs read by load_tensor_lifetimes besides traces (the
// lifetimes CSV and MiniMalloc's CSV), then the planner's input checks and bounds on what was
// read. Any text is refused with std::runtime_error or read into tensors with first_op <= last_op;
// the bounds either refuse the tensors with std::invalid_argument (sums that no arena holds, an
// alignment above 4 GiB) or answer.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unimem/planning/minimalloc_io.hpp>
#include <unimem/planning/planner.hpp>

#include "fuzz_input.hpp"

namespace {

void check(const std::vector<unimem::tensor_lifetime>& tensors) {
  for (const auto& t : tensors) {
    if (t.last_op < t.first_op) unimem::fuzz::fail("fuzz_lifetimes", "last_op < first_op was accepted");
  }
  try {
    const std::size_t naive = unimem::naive_bytes(tensors);
    const std::size_t lower = unimem::lower_bound_bytes(tensors);
    if (lower > naive) unimem::fuzz::fail("fuzz_lifetimes", "the lower bound exceeds laying everything out");
  } catch (const std::invalid_argument&) {
    // Sums beyond what any arena holds: refused by name.
  }
}

template <class Reader>
void read_and_check(const std::string& text, Reader read) {
  std::istringstream in(text);
  std::vector<unimem::tensor_lifetime> tensors;
  try {
    tensors = read(in);
  } catch (const std::runtime_error&) {
    return;
  }
  check(tensors);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  read_and_check(text, [](std::istream& in) { return unimem::parse_lifetimes_csv(in, "fuzz.csv"); });
  read_and_check(text, [](std::istream& in) { return unimem::parse_minimalloc_csv(in, "fuzz.csv"); });
  return 0;
}

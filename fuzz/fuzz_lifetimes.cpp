// libFuzzer target: the lifetimes CSV reader (parse_lifetimes_csv), then the planner's input
// checks and bounds on what it read. Any text is refused with std::runtime_error or read into
// tensors with first_op <= last_op; the bounds either refuse the tensors with
// std::invalid_argument (sums that no arena holds) or answer.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include <unimem/planning/planner.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<unimem::tensor_lifetime> tensors;
  try {
    tensors = unimem::parse_lifetimes_csv(in, "fuzz.csv");
  } catch (const std::runtime_error&) {
    return 0;
  }
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
  return 0;
}

// The torch allocator's settings: one table of options, read from UNIMEM_TORCH_* environment
// variables and from unimem_torch_set_option (Python's keyword arguments), validated here only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unimem/pools/pool_resource.hpp>

namespace unimem::torch_allocator {

/// Where each device's pool takes its memory.
enum class upstream_choice {
  device,   ///< cudaMalloc (unimem::device_resource)
  managed,  ///< cudaMallocManaged, attached globally (unimem::managed_resource)
  policy,   ///< what unimem::recommend() says for GPU scratch on the device's profile
};

std::string_view to_string(upstream_choice c) noexcept;

/// Everything the allocator can be told.
struct config {
  upstream_choice upstream = upstream_choice::policy;
  std::size_t budget_bytes = 0;  ///< per device; 0: no budget
  std::size_t initial_size = 0;
  std::size_t growth_step = 0;
  fit_strategy fit = fit_strategy::tlsf;
  bool learn_iterations = pool_options{}.learn_iterations;
  std::size_t max_learned_calls = pool_options{}.max_learned_calls;
  bool checked = false;
  bool verbose = false;
  /// Where each device's pool writes its calls (trace.hpp format); empty: no trace. Device N > 0
  /// writes to trace_path_for(N).
  std::string trace;

  /// The pool's options (thread-safe always: PyTorch allocates from several threads).
  pool_options pool() const;
};

/// The file device `device`'s trace goes to: `c.trace` itself for device 0, else `.devN` inserted
/// before the file name's first dot ("run.csv.gz" -> "run.dev1.csv.gz"; no dot: appended).
std::string trace_path_for(const config& c, int device);

/// One option: its keyword (Python), its variable, the values it takes and what it does.
struct option_spec {
  const char* key;
  const char* variable;
  const char* values;
  const char* meaning;
};

/// Every option, in the order the docs list them. UNIMEM_TORCH_LIBRARY (read by the Python
/// package only) is listed too, so that no known variable is reported as a typo.
const std::vector<option_spec>& option_table();

/// Sets one option from its text.
/// @param key the keyword ("budget") or the variable ("UNIMEM_TORCH_BUDGET")
/// @throws std::invalid_argument an unknown key or a value it does not take; the message names
///         the option, the value and what it takes
void set_option(config& c, std::string_view key, std::string_view value);

/// The configuration from `environment` (name, value pairs; entries without the UNIMEM_TORCH_
/// prefix are ignored), applied to the defaults.
/// @throws std::invalid_argument a bad value, or an unknown UNIMEM_TORCH_ variable (a typo would
///         otherwise be ignored silently)
config config_from_environment(const std::vector<std::pair<std::string, std::string>>& environment);

/// The process's UNIMEM_TORCH_ variables.
std::vector<std::pair<std::string, std::string>> process_environment();

/// A size in bytes: digits with an optional binary suffix K, M, G, T (or KiB, MiB, GiB, TiB),
/// case-insensitive, e.g. "512MiB", "8G", "1048576".
/// @throws std::invalid_argument anything else (decimal suffixes such as "MB" are refused as
///         ambiguous), or a size that overflows
std::size_t parse_bytes(std::string_view text, std::string_view option);

/// The configuration as a JSON object (keywords as keys).
std::string to_json(const config& c);

}  // namespace unimem::torch_allocator

#include "config.hpp"

#include <cctype>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/decimal.hpp"

extern char** environ;  // POSIX

namespace unimem::torch_allocator {

namespace {

constexpr std::string_view prefix = "UNIMEM_TORCH_";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

// A JSON string of a value set_option accepted: it has no control byte, so only quotes and
// backslashes need escaping.
std::string json_quoted(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + '"';
}

const option_spec* find_option(std::string_view key) {
  for (const option_spec& o : option_table()) {
    if (key == o.key || key == o.variable) return &o;
  }
  return nullptr;
}

std::string known_keys() {
  std::string out;
  for (const option_spec& o : option_table()) {
    if (std::string_view(o.key) == "library") continue;  // Python's, not the library's
    out += out.empty() ? "" : ", ";
    out += o.key;
  }
  return out;
}

[[noreturn]] void refuse(const option_spec& o, std::string_view value, std::string_view why) {
  throw std::invalid_argument(fmt::format("unimem_torch: {} ({}) = '{}': {}; it takes {}", o.variable, o.key,
                                          printable(value, 60), why, o.values));
}

bool parse_bool(const option_spec& o, std::string_view value) {
  const std::string v = lower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  refuse(o, value, "not a yes/no value");
}

std::size_t parse_count(const option_spec& o, std::string_view value) {
  std::size_t n = 0;
  const std::errc ec = detail::parse_decimal(value, n);
  if (ec == std::errc::result_out_of_range) refuse(o, value, "too large");
  if (ec != std::errc{}) refuse(o, value, value.empty() ? "empty" : "not a whole number");
  return n;
}

}  // namespace

std::string_view to_string(upstream_choice c) noexcept {
  switch (c) {
    case upstream_choice::device: return "device";
    case upstream_choice::managed: return "managed";
    case upstream_choice::policy: return "policy";
  }
  return "unknown";
}

pool_options config::pool() const {
  pool_options o;
  o.initial_size = initial_size;
  o.growth_step = growth_step;
  o.fit = fit;
  o.learn_iterations = learn_iterations;
  o.max_learned_calls = max_learned_calls;
  o.checked = checked;
  o.thread_safe = true;
  return o;
}

const std::vector<option_spec>& option_table() {
  static const std::vector<option_spec> table{
      {"upstream", "UNIMEM_TORCH_UPSTREAM", "device, managed or policy (default policy)",
       "where each device's pool takes memory: cudaMalloc, cudaMallocManaged (attached globally), or what "
       "unimem::recommend() chooses for GPU scratch on the device's profile (device memory on every board today)"},
      {"budget", "UNIMEM_TORCH_BUDGET", "a size such as 6GiB, 512M or 1048576; 0 for none (default 0)",
       "most bytes each device's pool may hold from upstream (a unimem::limiting_resource); an allocation that "
       "needs more fails with out-of-memory"},
      {"initial_size", "UNIMEM_TORCH_INITIAL_SIZE", "a size (default 0)",
       "bytes each device's pool takes from upstream when it is made"},
      {"growth_step", "UNIMEM_TORCH_GROWTH_STEP", "a size; 0 for adaptive (default 0)",
       "minimum bytes per upstream request when a pool grows (adaptive: an eighth of what it holds, 1-64 MiB)"},
      {"fit", "UNIMEM_TORCH_FIT", "tlsf or best_fit (default tlsf)",
       "free-block search: two-level segregated lists (O(1)) or a size-ordered tree (O(log n))"},
      {"learn_iterations", "UNIMEM_TORCH_LEARN_ITERATIONS", "1 or 0 (default 1)",
       "learn repeated iterations and serve them from a plan (pool_options::learn_iterations)"},
      {"max_learned_calls", "UNIMEM_TORCH_MAX_LEARNED_CALLS", "a whole number (default 65536)",
       "iterations longer than this many calls are not learned"},
      {"checked", "UNIMEM_TORCH_CHECKED", "1 or 0 (default 0)",
       "verify the pool's invariants after every call (slow; for debugging)"},
      {"verbose", "UNIMEM_TORCH_VERBOSE", "1 or 0 (default 0)",
       "print the configuration and each device's pool to stderr when the pool is made"},
      {"trace", "UNIMEM_TORCH_TRACE", "a file path, .gz to compress (default: none)",
       "write every allocate and free of each device's pool to this file as a trace (docs/pools.md's format; "
       "device N > 0 adds .devN before the extension) for unimem-replay and unimem-plan"},
      {"library", "UNIMEM_TORCH_LIBRARY", "a path to libunimem_torch.so",
       "read by the Python package only: the library to load"},
  };
  return table;
}

std::size_t parse_bytes(std::string_view text, std::string_view option) {
  const std::string_view t = trim(text);
  std::size_t i = 0;
  std::size_t n = 0;
  const auto bad = [&](std::string_view why) {
    return std::invalid_argument(fmt::format(
        "unimem_torch: {} = '{}': {}; give bytes as digits with an optional binary suffix K, M, G, T (or KiB, MiB, "
        "GiB, TiB), e.g. 6GiB or 512M",
        option, printable(text, 60), why));
  };
  if (t.empty()) throw bad("empty");
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
  if (i == 0) throw bad("no number");
  if (detail::parse_decimal(t.substr(0, i), n) != std::errc{}) throw bad("too large");
  const std::string suffix = lower(trim(t.substr(i)));
  unsigned shift = 0;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else if (suffix == "k" || suffix == "kib") {
    shift = 10;
  } else if (suffix == "m" || suffix == "mib") {
    shift = 20;
  } else if (suffix == "g" || suffix == "gib") {
    shift = 30;
  } else if (suffix == "t" || suffix == "tib") {
    shift = 40;
  } else if (suffix == "kb" || suffix == "mb" || suffix == "gb" || suffix == "tb") {
    throw bad("decimal units are ambiguous here (1000 or 1024?)");
  } else {
    throw bad("unknown unit '" + printable(suffix, 20) + "'");
  }
  if (shift != 0 && n > (std::numeric_limits<std::size_t>::max() >> shift)) throw bad("too large");
  return n << shift;
}

void set_option(config& c, std::string_view key, std::string_view raw_value) {
  const option_spec* o = find_option(key);
  if (o == nullptr) {
    throw std::invalid_argument(
        fmt::format("unimem_torch: unknown option '{}'; the options are {} (or their UNIMEM_TORCH_ variables)",
                    printable(key, 60), known_keys()));
  }
  const std::string_view value = trim(raw_value);
  const std::string_view k = o->key;
  if (value.empty()) {  // an empty variable (VAR= cmd) means the default
    const config defaults;
    if (k == "upstream") c.upstream = defaults.upstream;
    if (k == "budget") c.budget_bytes = defaults.budget_bytes;
    if (k == "initial_size") c.initial_size = defaults.initial_size;
    if (k == "growth_step") c.growth_step = defaults.growth_step;
    if (k == "fit") c.fit = defaults.fit;
    if (k == "learn_iterations") c.learn_iterations = defaults.learn_iterations;
    if (k == "max_learned_calls") c.max_learned_calls = defaults.max_learned_calls;
    if (k == "checked") c.checked = defaults.checked;
    if (k == "verbose") c.verbose = defaults.verbose;
    if (k == "trace") c.trace = defaults.trace;
    return;
  }
  if (k == "upstream") {
    const std::string v = lower(value);
    if (v == "device") {
      c.upstream = upstream_choice::device;
    } else if (v == "managed") {
      c.upstream = upstream_choice::managed;
    } else if (v == "policy") {
      c.upstream = upstream_choice::policy;
    } else {
      refuse(*o, value, "not an upstream");
    }
  } else if (k == "budget" || k == "initial_size" || k == "growth_step") {
    const std::size_t bytes = parse_bytes(value, o->variable);
    if (k == "budget") c.budget_bytes = bytes;
    if (k == "initial_size") c.initial_size = bytes;
    if (k == "growth_step") c.growth_step = bytes;
  } else if (k == "fit") {
    const std::string v = lower(value);
    if (v == "tlsf") {
      c.fit = fit_strategy::tlsf;
    } else if (v == "best_fit" || v == "ordered_best_fit") {
      c.fit = fit_strategy::ordered_best_fit;
    } else {
      refuse(*o, value, "not a fit strategy");
    }
  } else if (k == "learn_iterations") {
    c.learn_iterations = parse_bool(*o, value);
  } else if (k == "max_learned_calls") {
    c.max_learned_calls = parse_count(*o, value);
  } else if (k == "checked") {
    c.checked = parse_bool(*o, value);
  } else if (k == "verbose") {
    c.verbose = parse_bool(*o, value);
  } else if (k == "trace") {
    for (const char ch : value) {
      // The path reaches open(2), which would cut it at a NUL; control bytes are never meant.
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) refuse(*o, value, "a control byte in the path");
    }
    c.trace = std::string(value);
  }
  // "library" is the Python package's; nothing to set here.
  if (c.budget_bytes != 0 && c.initial_size > c.budget_bytes) {
    throw std::invalid_argument(fmt::format(
        "unimem_torch: UNIMEM_TORCH_INITIAL_SIZE ({} B) exceeds UNIMEM_TORCH_BUDGET ({} B); lower the initial size "
        "or raise the budget",
        c.initial_size, c.budget_bytes));
  }
}

config config_from_environment(const std::vector<std::pair<std::string, std::string>>& environment) {
  config c;
  for (const auto& [name, value] : environment) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (find_option(name) == nullptr) {
      std::string variables;
      for (const option_spec& o : option_table()) variables += fmt::format("{}{}", variables.empty() ? "" : ", ", o.variable);
      throw std::invalid_argument(fmt::format(
          "unimem_torch: unknown variable {}={}; the UNIMEM_TORCH_ variables are {} (docs/pytorch.md) — fix the "
          "name or unset it",
          printable(name, 60), printable(value, 60), variables));
    }
    set_option(c, name, value);
  }
  return c;
}

std::vector<std::pair<std::string, std::string>> process_environment() {
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (entry.compare(0, prefix.size(), prefix) != 0) continue;
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

std::string to_json(const config& c) {
  return fmt::format(
      "{{\"upstream\": \"{}\", \"budget\": {}, \"initial_size\": {}, \"growth_step\": {}, \"fit\": \"{}\", "
      "\"learn_iterations\": {}, \"max_learned_calls\": {}, \"checked\": {}, \"verbose\": {}, \"trace\": {}}}",
      to_string(c.upstream), c.budget_bytes, c.initial_size, c.growth_step,
      c.fit == fit_strategy::tlsf ? "tlsf" : "best_fit", c.learn_iterations ? "true" : "false", c.max_learned_calls,
      c.checked ? "true" : "false", c.verbose ? "true" : "false", c.trace.empty() ? "null" : json_quoted(c.trace));
}

std::string trace_path_for(const config& c, int device) {
  if (device == 0 || c.trace.empty()) return c.trace;
  const std::size_t slash = c.trace.rfind('/');
  const std::size_t base = slash == std::string::npos ? 0 : slash + 1;
  const std::size_t dot = c.trace.find('.', base + 1);  // a leading dot is part of a hidden file's name
  const std::string tag = fmt::format(".dev{}", device);
  if (dot == std::string::npos) return c.trace + tag;
  return c.trace.substr(0, dot) + tag + c.trace.substr(dot);
}

}  // namespace unimem::torch_allocator

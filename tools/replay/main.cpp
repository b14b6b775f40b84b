// unimem-replay: replays allocation traces through unimem's pool and its peers, side by side.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem_support/cli.hpp>
#include <unimem_support/output.hpp>

#include "replay_core.hpp"

namespace {

constexpr int max_repetitions = 100;

constexpr const char* usage = R"(usage: unimem-replay [options] TRACE_OR_FOLDER...

Replays allocation traces (CSV "op,id,bytes,stream", plain or .gz; a folder means every trace in
it) through unimem's pool and its peers, each on a fresh instance, and reports the time per
allocate or free and the memory reserved at peak over the bytes live at peak.

options:
  --json             one JSON object per line per (trace, resource)
  --resource NAME    replay only this resource (repeatable); --list shows the names
  --repetitions N    1 cold replay, then N-1 timed call by call and N-1 timed whole, per
                     (trace, resource) (2 to 100, default 5: 9 replays)
  --list             list the resources and exit
  -h, --help         this text

Without a CUDA device only the host-memory resources run.

fields: ns_per_op        median time of one call over the warm replays (each call timed alone)
        mean_ns_per_op   warm replay time / calls (calls not timed one by one)
        cold_ns_per_op   first replay on the fresh resource / calls
        peak_reserved_bytes / peak_live_bytes  most memory held vs most bytes live
)";

/// A time per call for the table; "-" when there is none (a trace without calls).
std::string ns(double v) { return std::isfinite(v) ? fmt::format("{:.1f}", v) : "-"; }

}  // namespace

int main(int argc, char** argv) {
  using namespace unimem::replay;
  using unimem::support::usage_error;
  bool json = false, list = false;
  std::vector<std::string> wanted, paths;
  replay_options options;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--json") {
        json = true;
      } else if (a == "--list") {
        list = true;
      } else if (a == "-h" || a == "--help") {
        std::fputs(usage, stdout);
        return 0;
      } else if (a == "--resource") {
        wanted.emplace_back(unimem::support::option_value(argc, argv, i));
      } else if (a == "--repetitions") {
        // One cold replay and at least one warm; every warm call's time is kept in memory.
        options.repetitions = unimem::support::parse_number<int>(a, unimem::support::option_value(argc, argv, i), 2,
                                                                 max_repetitions);
      } else if (!a.empty() && a[0] == '-') {
        throw usage_error("unknown option " + unimem::printable(a));
      } else {
        paths.push_back(a);
      }
    }
  } catch (const usage_error& e) {
    std::fprintf(stderr, "unimem-replay: %s\n%s", e.what(), usage);
    return 2;
  }

  const std::vector<replay_target> targets = all_targets();
  if (list) {
    for (const replay_target& t : targets) {
      std::printf("%-20s %s%s\n", t.name.c_str(), t.description.c_str(), t.needs_gpu ? " [GPU]" : "");
    }
    return 0;
  }
  for (const std::string& w : wanted) {
    bool known = false;
    for (const replay_target& t : targets) known = known || t.name == w;
    if (!known) {
      std::fprintf(stderr, "unimem-replay: --resource %s: unknown; --list shows the names\n",
                   unimem::printable(w).c_str());
      return 2;
    }
  }
  if (paths.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }

  std::string why;
  const bool gpu = gpu_available(&why);
  if (!gpu) std::fprintf(stderr, "unimem-replay: no CUDA device (%s): running the host-memory resources only\n", why.c_str());

  std::vector<const replay_target*> run;
  for (const replay_target& t : targets) {
    const bool picked = wanted.empty() || std::find(wanted.begin(), wanted.end(), t.name) != wanted.end();
    if (!picked) continue;
    if (t.needs_gpu && !gpu) {
      if (!wanted.empty()) std::fprintf(stderr, "unimem-replay: skipping %s: it needs a GPU\n", t.name.c_str());
      continue;
    }
    run.push_back(&t);
  }

  int failures = 0;
  try {
    std::vector<std::string> files;
    for (const std::string& p : paths) {
      for (std::string& f : trace_files(p)) files.push_back(std::move(f));
    }
    if (!json) {
      std::printf("%-42s %-20s %9s %9s %9s %13s %13s %8s\n", "trace", "resource", "ns/op", "mean ns", "cold ns",
                  "peak reserved", "peak live", "res/live");
    }
    for (const std::string& f : files) {
      unimem::alloc_trace trace;
      try {
        trace = unimem::load_trace(f);
      } catch (const std::exception& e) {
        ++failures;
        std::fprintf(stderr, "unimem-replay: %s\n", e.what());
        continue;
      }
      for (const replay_target* t : run) {
        try {
          const replay_result r = run_replay(trace, *t, options);
          if (json) {
            std::printf("%s\n", to_json(r).c_str());
          } else {
            std::printf("%-42s %-20s %9s %9s %9s %13zu %13zu %8.3f\n", unimem::printable(r.trace).c_str(),
                        r.resource.c_str(), ns(r.ns_per_op).c_str(), ns(r.mean_ns_per_op).c_str(),
                        ns(r.cold_ns_per_op).c_str(), r.peak_reserved_bytes, r.peak_live_bytes,
                        r.reserved_over_live());
          }
          // Line by line (a long run shows progress), and a lost line ends the run.
          if (!unimem::support::flush_stdout("unimem-replay")) return 1;
        } catch (const std::exception& e) {
          ++failures;
          std::fprintf(stderr, "unimem-replay: %s through %s failed: %s\n", unimem::printable(trace.name).c_str(),
                       t->name.c_str(), e.what());
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unimem-replay: %s\n", e.what());
    return 1;
  }
  if (!unimem::support::flush_stdout("unimem-replay")) return 1;
  return failures == 0 ? 0 : 1;
}

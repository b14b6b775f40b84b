// Three models on a simulated 4 GB Jetson Nano: a detector on every frame, a classifier on two
// crops of every frame and a segmenter every eighth frame. Their synthetic weights are written to
// files at start and loaded for real. The same frames run twice:
//  - all-resident, as two inference engines initialised side by side do it: every model loaded at
//    start, each with its own activation memory, nothing shared, no budget;
//  - under a unimem::residency_manager with the Nano's budget: models loaded on first use, the
//    ones not running evicted when room is needed (lowest priority, then least recently used), one
//    activation arena for the three (they run one after another, so they form one lane).
// Printed: the peak memory each charged, the time to the first result, the time for all frames,
// loads and evictions, and the line unimem-top shows for the managed run. Every "inference" (a
// kernel on the GPU adding every word, a loop on the CPU adding one word per cache line) reads all
// of the model's weights and checks their sum.
//
//   multi_model [--cpu-only] [--frames N] [--scale N] [--available-mb M] [--segment-every N]
//               [--dir DIR] [--keep-files]
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <unimem/unimem.hpp>
#include <unimem/planning/residency_manager.hpp>

#include "model_kernels.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t MiB = std::size_t{1} << 20;

struct model_def {
  const char* name;
  std::size_t weight_mib;
  std::size_t activation_mib;
  int priority;  // the detector runs on every frame: keep it longest
  std::uint32_t seed;
};

// Together they need more than the Nano's budget; any two of them fit.
constexpr model_def model_defs[] = {
    {"detector", 640, 384, 2, 11},
    {"classifier", 384, 128, 1, 22},
    {"segmenter", 896, 512, 0, 33},
};

struct settings {
  bool cpu_only = false;
  std::size_t frames = 16;
  std::size_t scale = 1;             // every size (and the budget) divided by this
  std::size_t available_mib = 2560;  // the Nano's MemAvailable we assume; see --help
  std::size_t segment_every = 8;
  std::string dir;
  bool keep_files = false;
};

void usage(std::FILE* to) {
  std::fputs(
      "usage: multi_model [options]\n"
      "  --cpu-only         host memory and CPU \"inference\" (automatic when there is no GPU)\n"
      "  --frames N         frames to run (default 16)\n"
      "  --scale N          divide every size and the budget by N (default 1; CI uses 8)\n"
      "  --available-mb M   the Nano's MemAvailable to budget from (default 2560 of its 4096 MiB: an\n"
      "                     assumption; on a board, use what `grep MemAvailable /proc/meminfo` says)\n"
      "  --segment-every N  run the segmenter every N frames (default 8)\n"
      "  --dir DIR          where to write the weights files (default: a new folder in the temp dir)\n"
      "  --keep-files       leave the weights files behind\n",
      to);
}

std::size_t number(const char* flag, const char* v) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (end == v || *end != '\0' || v[0] == '-' || n == 0) {
    throw std::invalid_argument(std::string(flag) + " needs a positive integer, got '" + v + "'");
  }
  return static_cast<std::size_t>(n);
}

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--cpu-only") s.cpu_only = true;
    else if (a == "--frames") s.frames = number("--frames", value());
    else if (a == "--scale") s.scale = number("--scale", value());
    else if (a == "--available-mb") s.available_mib = number("--available-mb", value());
    else if (a == "--segment-every") s.segment_every = number("--segment-every", value());
    else if (a == "--dir") s.dir = value();
    else if (a == "--keep-files") s.keep_files = true;
    else if (a == "-h" || a == "--help") {
      usage(stdout);
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown option '" + a + "'");
    }
  }
  return s;
}

std::size_t scaled(std::size_t mib, const settings& s) { return (mib * MiB / s.scale) & ~std::size_t{255}; }

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

std::string mib(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / MiB);
  return buf;
}

std::uint32_t weight_word(std::size_t i, std::uint32_t seed) {
  return static_cast<std::uint32_t>(i * 2654435761u) ^ (seed * 0x9e3779b9u);
}

// The CPU "inference" adds one word per 64-byte cache line: every line of the weights still
// comes from memory, at a sixteenth of the additions.
constexpr std::size_t cpu_stride = 16;

struct checksums {
  std::uint64_t all = 0;      // every 32-bit word: what the GPU kernel adds
  std::uint64_t strided = 0;  // every cpu_stride-th word: what the CPU adds
};

// Writes synthetic weights; returns their checksums.
checksums write_weights(const std::string& path, std::size_t bytes, std::uint32_t seed) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  std::vector<std::uint32_t> chunk(MiB);
  checksums sum;
  for (std::size_t word = 0, words = bytes / 4; word < words;) {
    const std::size_t n = std::min(chunk.size(), words - word);
    for (std::size_t k = 0; k < n; ++k) {
      sum.all += chunk[k] = weight_word(word + k, seed);
      if ((word + k) % cpu_stride == 0) sum.strided += chunk[k];
    }
    if (std::fwrite(chunk.data(), 4, n, f) != n) {
      std::fclose(f);
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    }
    word += n;
  }
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + path);
  return sum;
}

std::uint64_t cpu_infer(const void* weights, std::size_t bytes, void* activations) {
  const auto* w = static_cast<const std::uint32_t*>(weights);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes / 4; i += cpu_stride) sum += w[i];
  std::memcpy(activations, &sum, sizeof sum);  // the model's "output" lives in its activations
  return sum;
}

struct weights_file {
  std::string path;
  std::size_t bytes;
  checksums sum;
};

struct result {
  std::size_t peak = 0;
  double startup_ms = 0, first_result_ms = 0, total_ms = 0;
  double loading_ms = 0;  // of total_ms: in acquires that loaded a model
  unimem::residency_stats stats;
  std::vector<unimem::model_status> models;
  std::size_t wrong = 0;
  std::string top_line;
  unimem::residency_requirements needs;
};

std::string top_line(const unimem::usage_publisher& pub) {
  const auto u = unimem::read_usage_segment("/dev/shm" + pub.segment());
  if (!u) return "(not readable)";
  std::string line = u->label + "[" + std::to_string(u->pid) + "]";
  char buf[96];
  for (const auto& t : u->tags) {
    std::snprintf(buf, sizeof buf, " %s %.1fMB/%.1fMB", t.name.c_str(), static_cast<double>(t.current_bytes) / MiB,
                  static_cast<double>(t.peak_bytes) / MiB);
    line += buf;
  }
  return line;
}

result run(const settings& s, bool managed, const std::vector<weights_file>& files, std::size_t budget_bytes) {
  auto budget = std::make_shared<unimem::memory_budget>(
      managed ? "Jetson Nano 4GB (simulated)" : "unlimited",
      managed ? budget_bytes : std::numeric_limits<std::size_t>::max());
  unimem::usage_publisher pub(managed ? "multi_model" : "multi_model all-resident");
  unimem::host_resource host;
  unimem::residency_options o;
  o.publisher = &pub;
  o.wait = std::chrono::seconds(30);
  result r;
  const auto t0 = clock_type::now();
  auto mgr = s.cpu_only ? std::make_unique<unimem::residency_manager>(budget, host, host, o)
                        : std::make_unique<unimem::residency_manager>(budget, unimem::device_profile::current(), o);
  for (std::size_t i = 0; i < std::size(model_defs); ++i) {
    unimem::model_spec m;
    m.name = model_defs[i].name;
    m.weight_bytes = files[i].bytes;
    m.weights_file = files[i].path;  // read with load_weights_file: one read into the weights' memory
    m.activation_bytes = scaled(model_defs[i].activation_mib, s);
    m.priority = model_defs[i].priority;
    // One after another on this thread: one lane, one arena. All-resident: an arena each.
    m.lane = managed ? "main" : model_defs[i].name;
    mgr->add_model(std::move(m));
  }
  if (!managed) {
    for (const auto& d : model_defs) mgr->acquire(d.name).release();  // every engine initialised at start
  }
  r.startup_ms = ms_since(t0);
  r.loading_ms = r.startup_ms;

  auto infer = [&](std::size_t i) {
    const auto t_acquire = clock_type::now();
    const auto lease = mgr->acquire(model_defs[i].name);
    if (lease.loaded_now()) r.loading_ms += ms_since(t_acquire);
    const std::uint64_t sum =
        s.cpu_only ? cpu_infer(lease.weights(), lease.weight_bytes(), lease.activations())
                   : multi_model::gpu_infer(lease.weights(), lease.weight_bytes(), lease.activations(), nullptr);
    if (sum != (s.cpu_only ? files[i].sum.strided : files[i].sum.all)) ++r.wrong;
  };
  for (std::size_t frame = 0; frame < s.frames; ++frame) {
    infer(0);
    if (frame == 0) r.first_result_ms = ms_since(t0);
    infer(1);  // two crops
    infer(1);
    if (frame % s.segment_every == s.segment_every - 1) infer(2);
  }
  r.total_ms = ms_since(t0);
  r.peak = budget->peak();
  r.stats = mgr->stats();
  r.models = mgr->models();
  r.top_line = top_line(pub);
  r.needs = mgr->requirements();
  return r;
}

// What MemAvailable each setup needs at the example's 20% headroom, and that as a share of every
// simulated Jetson's DRAM: the question to answer before choosing a board (docs/residency.md).
void print_sizing(const unimem::residency_requirements& needs, const settings& s) {
  const std::vector<unimem::device_profile> boards = [] {
    std::vector<unimem::device_profile> v;
    for (auto& p : unimem::device_profile::simulated_profiles()) {
      if (p.integrated) v.push_back(p);
    }
    return v;
  }();
  auto short_name = [](std::string n) {
    for (const char* cut : {"Jetson ", " (simulated)", "AGX "}) {
      if (const auto at = n.find(cut); at != std::string::npos) n.erase(at, std::strlen(cut));
    }
    return n;
  };
  std::printf("\nsizing: MemAvailable each setup needs (budget / 0.8), and its share of each board's DRAM\n%-22s %11s",
              "setup", "needs");
  for (const auto& b : boards) std::printf(" %13s", short_name(b.name).c_str());
  const std::pair<const char*, std::size_t> rows[] = {{"all-resident", needs.all_resident_bytes},
                                                      {"managed, no eviction", needs.no_eviction_bytes},
                                                      {"managed, minimum", needs.minimum_bytes}};
  for (const auto& [label, bytes] : rows) {
    const double available = static_cast<double>(bytes) / 0.8;
    std::printf("\n%-22s %7.0f MiB", label, available / MiB);
    for (const auto& b : boards) {
      std::printf(" %12.0f%%", 100.0 * available / (static_cast<double>(b.total_memory_bytes) / s.scale));
    }
  }
  std::printf("\n\n");
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  try {
    s = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "multi_model: %s\n", e.what());
    usage(stderr);
    return 2;
  }
  std::string why;
  if (!s.cpu_only && unimem::cuda_device_count(&why) == 0) {
    std::printf("no CUDA GPU (%s): running the CPU part (--cpu-only)\n", why.c_str());
    s.cpu_only = true;
  }

  try {
    const unimem::device_profile nano = unimem::device_profile::jetson_nano();
    unimem::meminfo m;
    m.mem_total = nano.total_memory_bytes / s.scale;
    m.mem_available = std::min(m.mem_total, s.available_mib * MiB / s.scale);
    const std::size_t budget = unimem::integrated_budget(m, 0.2);
    const auto policy = unimem::recommend(nano, unimem::access_pattern::weights);
    std::printf("board     %s: %s of DRAM, MemAvailable assumed %s (--available-mb) -> budget %s "
                "(integrated_budget, 20%% headroom)%s\n",
                nano.name.c_str(), mib(m.mem_total).c_str(), mib(m.mem_available).c_str(), mib(budget).c_str(),
                s.scale > 1 ? (" [sizes / " + std::to_string(s.scale) + "]").c_str() : "");
    std::printf("policy    on the Nano, weights go to %s memory: %s\n",
                std::string(unimem::to_string(policy.kind)).c_str(), policy.reason.c_str());
    if (s.cpu_only) {
      std::printf("here      CPU only: weights and activations in host memory, \"inference\" on the CPU\n");
    } else {
      const auto here = unimem::device_profile::current();
      const auto w = unimem::recommend(here, unimem::access_pattern::weights);
      std::printf("here      %s: weights in %s memory%s, activations in device memory, a kernel per inference\n",
                  here.name.c_str(), std::string(unimem::to_string(w.kind)).c_str(),
                  w.staging ? (" (loaded through " + std::string(unimem::to_string(*w.staging)) + " staging)").c_str()
                            : "");
    }

    namespace fs = std::filesystem;
    const bool own_dir = s.dir.empty();
    const fs::path dir = own_dir ? fs::temp_directory_path() / ("unimem-multi-model-" + std::to_string(::getpid()))
                                 : fs::path(s.dir);
    fs::create_directories(dir);
    std::vector<weights_file> files;
    const auto t_write = clock_type::now();
    std::size_t all_weights = 0, all_activations = 0, largest_activations = 0;
    for (const auto& d : model_defs) {
      const std::string path = (dir / (std::string(d.name) + ".weights")).string();
      const std::size_t bytes = scaled(d.weight_mib, s);
      files.push_back({path, bytes, write_weights(path, bytes, d.seed)});
      all_weights += bytes;
      all_activations += scaled(d.activation_mib, s);
      largest_activations = std::max(largest_activations, scaled(d.activation_mib, s));
      std::printf("model     %-10s %10s weights + %10s activations, priority %d\n", d.name, mib(bytes).c_str(),
                  mib(scaled(d.activation_mib, s)).c_str(), d.priority);
    }
    std::printf("files     %s of weights written to %s in %.0f ms\n", mib(all_weights).c_str(), dir.string().c_str(),
                ms_since(t_write));
    std::printf("frames    %zu: detector on each, classifier on two crops of each, segmenter every %zu\n\n", s.frames,
                s.segment_every);

    const result naive = run(s, false, files, budget);
    const result managed = run(s, true, files, budget);

    std::printf("%-13s %12s %-24s %10s %13s %12s %15s %6s %9s\n", "setup", "peak", "against the budget", "startup",
                "first result", "all frames", "of which loads", "loads", "evictions");
    for (const auto* r : {&naive, &managed}) {
      const bool fits = r->peak <= budget;
      const std::string verdict =
          fits ? "fits" : "over by " + mib(r->peak - budget);
      std::printf("%-13s %12s %-24s %7.0f ms %10.0f ms %9.0f ms %12.0f ms %6zu %9zu\n",
                  r == &naive ? "all-resident" : "managed", mib(r->peak).c_str(), verdict.c_str(), r->startup_ms,
                  r->first_result_ms, r->total_ms, r->loading_ms, r->stats.loads, r->stats.evictions);
    }
    std::printf("\nall-resident needs every model's weights (%s) and activations (%s) at once; managed keeps at most\n"
                "what the budget allows, with one activation arena for the lane (%s, the largest model's).\n",
                mib(all_weights).c_str(), mib(all_activations).c_str(), mib(largest_activations).c_str());
    print_sizing(managed.needs, s);
    std::printf("managed, per model:");
    for (const auto& st : managed.models) {
      std::printf("  %s %zu loads / %zu evictions", st.name.c_str(), st.loads, st.evictions);
    }
    std::printf("\nunimem-top shows (managed run, at its end):\n  %s\n", managed.top_line.c_str());

    if (own_dir && !s.keep_files) fs::remove_all(dir);
    const std::size_t wrong = naive.wrong + managed.wrong;
    if (wrong != 0 || managed.peak > budget) {
      std::printf("FAILED: %zu inferences read wrong weights; managed peak %s against a budget of %s\n", wrong,
                  mib(managed.peak).c_str(), mib(budget).c_str());
      return 1;
    }
    std::printf("every inference read the weights it was given (checksums match)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "multi_model: %s\n", e.what());
    return 1;
  }
  return 0;
}

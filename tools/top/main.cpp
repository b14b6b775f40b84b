// unimem-top: one line per interval, like tegrastats: RAM, swap, GPU memory (NvMap on Tegra,
// cudaMemGetInfo on a discrete GPU) and the per-tag usage of processes that publish it
// (unimem::usage_publisher).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <optional>
#include <string>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include <unimem/device_profile.hpp>
#include <unimem/error.hpp>
#include <unimem/system_memory.hpp>
#include <unimem/planning/usage_publisher.hpp>
#include <unimem_support/cli.hpp>
#include <unimem_support/output.hpp>

namespace {

namespace support = unimem::support;

constexpr std::size_t max_interval_ms = 24 * 3600 * 1000;  // a day

void usage(std::FILE* to) {
  std::fputs(
      "usage: unimem-top [options]\n"
      "  --count N          print N lines and exit (default: until interrupted)\n"
      "  --interval-ms M    milliseconds between lines (0 to 86400000, default 1000)\n"
      "  --device D         CUDA device for GPU memory (default 0)\n"
      "  --no-gpu           do not query the GPU (cudaMemGetInfo creates a CUDA context)\n"
      "  --meminfo PATH     read this instead of /proc/meminfo (it must be readable)\n"
      "  --nvmap PATH       read this instead of /sys/kernel/debug/nvmap/iovmm/clients (missing: no NvMap)\n"
      "  --shm-dir DIR      where publishing processes' tables live (default /dev/shm)\n"
      "  --all-users        (root only) also show other users' tables; otherwise only your own\n"
      "                     regular files are read\n"
      "  -h, --help         this text\n"
      "Fields: RAM used/total (MemTotal - MemAvailable), SWAP used/total, NVMAP (Tegra: the debugfs\n"
      "table's total when readable, else NvMapMemUsed), GPU used/total (discrete GPUs; an integrated\n"
      "GPU's memory is the RAM above), then\n"
      "label[pid] tag current/peak for every process publishing usage (control characters in labels\n"
      "and tags printed as \\xNN; \"?/?\" for a tag whose writer stayed inside an update).\n",
      to);
}

std::string mb(std::size_t bytes) { return fmt::format("{}", (bytes + (1u << 19)) >> 20); }

std::string human(std::uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{:.1f}GB", static_cast<double>(bytes) / (1ull << 30));
  if (bytes >= (1ull << 20)) return fmt::format("{:.1f}MB", static_cast<double>(bytes) / (1ull << 20));
  if (bytes >= (1ull << 10)) return fmt::format("{:.1f}kB", static_cast<double>(bytes) / (1ull << 10));
  return fmt::format("{}B", bytes);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 0;  // 0: forever
  std::size_t interval_ms = 1000;
  int device = 0;
  bool gpu = true;
  bool all_users = false;
  std::string meminfo_path = "/proc/meminfo", nvmap_path = unimem::nvmap_clients_path, shm_dir = "/dev/shm";
  bool meminfo_given = false, nvmap_given = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&] { return support::option_value(argc, argv, i); };
      if (a == "--count") count = support::parse_number<std::size_t>(a, value());
      else if (a == "--interval-ms") interval_ms = support::parse_number<std::size_t>(a, value(), 0, max_interval_ms);
      else if (a == "--device") device = support::parse_number<int>(a, value(), 0);
      else if (a == "--no-gpu") gpu = false;
      else if (a == "--meminfo") meminfo_path = value(), meminfo_given = true;
      else if (a == "--nvmap") nvmap_path = value(), nvmap_given = true;
      else if (a == "--shm-dir") shm_dir = value();
      else if (a == "--all-users") all_users = true;
      else if (a == "-h" || a == "--help") {
        usage(stdout);
        return 0;
      } else throw support::usage_error(fmt::format("unknown option '{}'", unimem::printable(a)));
    }
    // Other users' tables are theirs to write: only root reads them, and only when asked.
    if (all_users && ::geteuid() != 0) {
      throw support::usage_error(fmt::format(
          "--all-users: only root reads other users' tables (this runs as uid {}); drop the option to see your own",
          ::geteuid()));
    }
  } catch (const support::usage_error& e) {
    std::fprintf(stderr, "unimem-top: %s\n", e.what());
    usage(stderr);
    return 2;
  }
  // A file named on the command line must be readable now: a monitor that printed "RAM ?" forever
  // for a typo would look like it works. The default sources may be missing (no NvMap off Tegra)
  // or fail now and then; those are reported line by line.
  try {
    if (meminfo_given && !unimem::read_meminfo(meminfo_path)) {
      throw std::runtime_error(
          fmt::format("unimem::read_meminfo(\"{}\"): does not exist or cannot be opened; give a readable file or "
                      "drop --meminfo",
                      unimem::printable(meminfo_path)));
    }
    // A missing NvMap table means none (a board without it, a test); one that cannot be read is an error.
    if (nvmap_given) (void)unimem::read_nvmap_usage(nvmap_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unimem-top: %s\n", e.what());
    return 2;
  }

  // The GPU is looked at once: whether it exists and whether it is integrated do not change.
  std::optional<unimem::device_profile> profile;
  std::string gpu_note = "off";
  if (gpu) {
    std::string why;
    if (unimem::cuda_device_count(&why) > device) {
      try {
        profile = unimem::device_profile::query(device);
        gpu_note = profile->integrated ? "shared" : "";
      } catch (const std::exception& e) {
        gpu_note = "n/a";
        std::fprintf(stderr, "unimem-top: GPU %d: %s\n", device, e.what());
      }
    } else {
      gpu_note = "n/a";
    }
  }

  auto next = std::chrono::steady_clock::now();
  for (std::size_t line = 0; count == 0 || line < count; ++line) {
    if (line > 0) {
      next += std::chrono::milliseconds(interval_ms);
      std::this_thread::sleep_until(next);
    }
    std::string out;
    const std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%m-%d-%Y %H:%M:%S", std::localtime(&now));
    out += stamp;
    std::optional<unimem::meminfo> m;
    try {
      m = unimem::read_meminfo(meminfo_path);
      if (m) {
        out += fmt::format(" RAM {}/{}MB (avail {}MB) SWAP {}/{}MB", mb(m->mem_total - m->mem_available),
                           mb(m->mem_total), mb(m->mem_available), mb(m->swap_total - m->swap_free),
                           mb(m->swap_total));
      } else {
        out += " RAM n/a";
      }
    } catch (const std::exception& e) {
      out += " RAM ?";
      std::fprintf(stderr, "unimem-top: %s\n", e.what());
    }
    // NvMap: the debugfs table (root) counts every page once; NvMapMemUsed in /proc/meminfo is
    // the same allocator's count, readable by anyone.
    std::optional<std::size_t> nvmap;
    try {
      if (const auto nv = unimem::read_nvmap_usage(nvmap_path)) nvmap = nv->total_bytes;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "unimem-top: %s\n", e.what());
    }
    if (!nvmap && m) nvmap = m->nvmap_used;
    if (nvmap) out += fmt::format(" NVMAP {}MB", mb(*nvmap));
    if (profile && !profile->integrated) {
      try {
        const auto d = unimem::query_device_memory(*profile);
        out += fmt::format(" GPU {}/{}MB", mb(d->total_bytes - d->free_bytes), mb(d->total_bytes));
      } catch (const std::exception& e) {
        out += " GPU ?";
        std::fprintf(stderr, "unimem-top: %s\n", e.what());
      }
    } else {
      out += " GPU " + gpu_note;
    }
    // Labels and tags are bytes another process wrote: escaped, so none can drive the terminal or
    // start a forged line.
    for (const auto& p : unimem::read_published_usage(shm_dir, false, all_users)) {
      out += fmt::format(" | {}[{}]", p.label.empty() ? "pid" : unimem::printable(p.label, 64), p.pid);
      for (const auto& t : p.tags) {
        const std::string name = unimem::printable(t.name, 48);
        if (t.consistent) {
          out += fmt::format(" {} {}/{}", name, human(t.current_bytes), human(t.peak_bytes));
        } else {
          out += fmt::format(" {} ?/?", name);
        }
      }
    }
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (!support::flush_stdout("unimem-top")) return 1;
  }
  return 0;
}

// unimem-probe: what this machine's memory kinds are and cost. The main job of the project: run it
// on a board to see the device profile, the policy's recommendations and a quick measurement table.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>

#include <cuda_runtime_api.h>

#include <unimem/device_profile.hpp>
#include <unimem/error.hpp>
#include <unimem_support/cli.hpp>
#include <unimem_support/output.hpp>

#include "probe.hpp"

namespace {

namespace support = unimem::support;

const std::map<std::string, unimem::device_profile (*)()> simulated = {
    {"nano", &unimem::device_profile::jetson_nano},          {"tx2", &unimem::device_profile::jetson_tx2},
    {"xavier", &unimem::device_profile::jetson_agx_xavier},  {"orin", &unimem::device_profile::jetson_agx_orin},
    {"orin-nx", &unimem::device_profile::jetson_orin_nx},    {"orin-nano", &unimem::device_profile::jetson_orin_nano},
    {"thor", &unimem::device_profile::jetson_thor},          {"h100", &unimem::device_profile::discrete_h100},
};

int usage(std::FILE* to, int code) {
  std::fputs(
      "usage: unimem-probe [--json] [--json-out FILE] [--no-measure] [--simulate BOARD] [--device N]\n"
      "  --json          print one JSON object instead of text\n"
      "  --json-out F    also write the JSON to file F\n"
      "  --no-measure    print the profile and recommendations only\n"
      "  --simulate B    show the profile and policy of a board without it:\n"
      "                  nano, tx2, xavier, orin, orin-nx, orin-nano, thor, h100\n"
      "  --device N      probe CUDA device N (default: the current device)\n",
      to);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, do_measure = true;
  std::string board, json_out;
  int device = -1;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--json") json = true;
      else if (a == "--no-measure") do_measure = false;
      else if (a == "--simulate") board = support::option_value(argc, argv, i);
      else if (a == "--json-out") json_out = support::option_value(argc, argv, i);
      else if (a == "--device") device = support::parse_number<int>(a, support::option_value(argc, argv, i), 0);
      else if (a == "-h" || a == "--help") return usage(stdout, 0);
      else throw support::usage_error("unknown argument '" + unimem::printable(a) + "'");
    }
  } catch (const support::usage_error& e) {
    std::fprintf(stderr, "unimem-probe: %s\n", e.what());
    return usage(stderr, 2);
  }

  unimem::probe::report r;
  r.host = unimem::probe::read_host_facts();
  std::string why;
  r.has_gpu = unimem::cuda_device_count(&why) > 0;
  if (!r.has_gpu) r.no_gpu_reason = why;
  // Both work without a GPU: the runtime's version is compiled in, and no driver reads as 0.
  if (cudaRuntimeGetVersion(&r.cuda_runtime_version) != cudaSuccess) r.cuda_runtime_version = 0;
  if (cudaDriverGetVersion(&r.cuda_driver_version) != cudaSuccess) r.cuda_driver_version = 0;
  cudaGetLastError();

  try {
    if (!board.empty()) {
      const auto it = simulated.find(board);
      if (it == simulated.end()) {
        std::fprintf(stderr, "unimem-probe: unknown board '%s'\n", unimem::printable(board).c_str());
        return usage(stderr, 2);
      }
      r.profile = it->second();
    } else if (r.has_gpu) {
      if (device >= 0 && cudaSetDevice(device) != cudaSuccess) {
        std::fprintf(stderr, "unimem-probe: cudaSetDevice(%d) failed: there are %d devices\n", device,
                     unimem::cuda_device_count());
        return 2;
      }
      r.profile = unimem::device_profile::current();
      // Asked whatever the policy says, so the report shows what the board would grant.
      r.virtual_memory = unimem::probe_virtual_memory(r.profile->device, r.profile->total_memory_bytes);
      if (do_measure) r.measurements = unimem::probe::measure(*r.profile);
      // After the copies: an idle GPU lowers its link speed, and sysfs reports the idle speed.
      if (!r.profile->integrated) r.pcie = unimem::pcie_link_of_device(r.profile->device);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unimem-probe: %s\n", e.what());
    return 1;
  }
  const std::string out = json ? unimem::probe::to_json(r) : unimem::probe::to_text(r);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!unimem::support::flush_stdout("unimem-probe")) return 1;
  if (!json_out.empty()) {
    // fclose reports what the buffered fwrite could not (a full disk, /dev/full).
    std::FILE* f = std::fopen(json_out.c_str(), "w");
    const std::string j = unimem::probe::to_json(r);
    const bool written = f != nullptr && std::fwrite(j.data(), 1, j.size(), f) == j.size();
    const int saved = errno;
    const bool closed = f != nullptr && std::fclose(f) == 0;
    if (!written || !closed) {
      std::fprintf(stderr, "unimem-probe: cannot write %s: %s\n", unimem::printable(json_out).c_str(),
                   std::strerror(written ? errno : saved));
      return 1;
    }
  }
  return 0;
}

// unimem-plan: plans the tensors of a lifetimes CSV or an allocation trace into one arena and
// reports the arena against the lower bound (max live bytes) and no reuse at all.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/planning/planner.hpp>
#include <unimem_support/cli.hpp>
#include <unimem_support/json.hpp>
#include <unimem_support/output.hpp>

namespace {

namespace support = unimem::support;

void usage(std::FILE* to) {
  std::fputs(
      "usage: unimem-plan [options] FILE...\n"
      "  FILE                  lifetimes CSV (tensor,first_op,last_op,bytes) or allocation trace\n"
      "                        (op,id,bytes,stream), plain or gzip; the header tells them apart\n"
      "  --json                one JSON object per file (an array when there are several)\n"
      "  --method M            unimem (default: greedy portfolio + search) or greedy-by-size\n"
      "  --alignment N         align every tensor's offset to N bytes (power of two; default 1)\n"
      "  --search-nodes N      search budget (default 200000; 0: greedy portfolio only)\n"
      "  --offsets             also print every tensor's offset (CSV lines, or an \"offsets\" array)\n"
      "  -h, --help            this text\n",
      to);
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, print_offsets = false;
  std::string method = "unimem";
  std::size_t alignment = 1;
  unimem::plan_options options;
  std::vector<std::string> files;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&] { return support::option_value(argc, argv, i); };
      if (a == "--json") json = true;
      else if (a == "--offsets") print_offsets = true;
      else if (a == "--method") method = value();
      else if (a == "--alignment") alignment = support::parse_number<std::size_t>(a, value(), 1);
      else if (a == "--search-nodes") options.search_nodes = support::parse_number<std::size_t>(a, value());
      else if (a == "-h" || a == "--help") {
        usage(stdout);
        return 0;
      } else if (!a.empty() && a[0] == '-') throw support::usage_error(fmt::format("unknown option '{}'", unimem::printable(a)));
      else files.push_back(a);
    }
    if (method != "unimem" && method != "greedy-by-size") {
      throw support::usage_error(fmt::format("--method '{}': use unimem or greedy-by-size", unimem::printable(method)));
    }
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      throw support::usage_error(fmt::format("--alignment {}: use a power of two", alignment));
    }
    if (files.empty()) throw support::usage_error("no input file");
  } catch (const support::usage_error& e) {
    std::fprintf(stderr, "unimem-plan: %s\n", e.what());
    usage(stderr);
    return 2;
  }

  int status = 0;
  bool first_object = true;
  if (json && files.size() > 1) std::puts("[");
  for (const auto& file : files) {
    try {
      auto tensors = unimem::load_tensor_lifetimes(file);
      for (auto& t : tensors) t.alignment = alignment;
      const auto t0 = std::chrono::steady_clock::now();
      const unimem::memory_plan plan =
          method == "unimem" ? unimem::plan_memory(tensors, options) : unimem::plan_greedy_by_size(tensors);
      const auto t1 = std::chrono::steady_clock::now();
      const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
      const auto check = unimem::validate_plan(tensors, plan);
      if (!check) status = 1;
      const std::size_t naive = unimem::naive_bytes(tensors);
      if (json) {
        support::json_object o;
        o.add("file", file)
            .add("tensors", tensors.size())
            .add("arena_bytes", plan.arena_bytes)
            .add("lower_bound_bytes", plan.lower_bound_bytes)
            .add("naive_bytes", naive)
            .add("ratio", plan.ratio(), 6)
            .add("ms", ms, 3)
            .add("method", plan.method)
            .add("valid", static_cast<bool>(check));
        if (print_offsets) {
          std::string offsets = "[";
          for (std::size_t i = 0; i < plan.offsets.size(); ++i) offsets += (i ? ", " : "") + std::to_string(plan.offsets[i]);
          o.add_raw("offsets", offsets + "]");
        }
        std::printf("%s%s\n", first_object ? "" : ",", o.str().c_str());
        first_object = false;
      } else {
        std::printf("%s: %zu tensors, arena %zu B, lower bound %zu B (x%.4f), no reuse %zu B, %.3f ms, %s%s\n",
                    unimem::printable(file).c_str(), tensors.size(), plan.arena_bytes, plan.lower_bound_bytes, plan.ratio(), naive, ms,
                    plan.method.c_str(), check ? "" : (", INVALID: " + check.message).c_str());
        if (print_offsets) {
          std::puts("tensor,offset,bytes");
          for (std::size_t i = 0; i < tensors.size(); ++i) {
            std::printf("%zu,%zu,%zu\n", i, plan.offsets[i], tensors[i].bytes);
          }
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "unimem-plan: %s\n", e.what());
      status = 1;
    }
  }
  if (json && files.size() > 1) std::puts("]");
  if (!support::flush_stdout("unimem-plan")) return 1;
  return status;
}

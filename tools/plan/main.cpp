// unimem-plan: plans the tensors of a lifetimes CSV or an allocation trace into one arena and
// reports the arena against the lower bound (max live bytes) and no reuse at all.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/planning/minimalloc_io.hpp>
#include <unimem/planning/plan_families.hpp>
#include <unimem/planning/planner.hpp>
#include <unimem_support/cli.hpp>
#include <unimem_support/json.hpp>
#include <unimem_support/output.hpp>

namespace {

namespace support = unimem::support;

void usage(std::FILE* to) {
  std::fputs(
      "usage: unimem-plan [options] FILE...\n"
      "  FILE                  lifetimes CSV (tensor,first_op,last_op,bytes), allocation trace\n"
      "                        (op,id,bytes,stream), plain or gzip, or MiniMalloc CSV\n"
      "                        (id,lower,upper,size); the header tells them apart\n"
      "  --json                one JSON object per file (an array when there are several)\n"
      "  --method M            unimem (default) or greedy-by-size\n"
      "  --alignment N         align every tensor's offset to N bytes (power of two; default 1,\n"
      "                        or the file's own for MiniMalloc files)\n"
      "  --search-work N       search budget in tensor visits (default 10000000; 0: no search)\n"
      "  --time-limit-ms N     also stop the search after N ms (default: no limit)\n"
      "  --target N            stop once the arena is at most N bytes (default: the lower bound;\n"
      "                        for a MiniMalloc file named NAME.CAPACITY.csv: its capacity)\n"
      "  --family NAME:N[:SEED]  plan a generated family instance instead of a file (see\n"
      "                        plan_families.hpp: nested, deep_nesting, two_sided, equal_sizes,\n"
      "                        levels, guillotine, growing_cache, few_sizes, random)\n"
      "  --offsets             also print every tensor's offset (CSV lines, or an \"offsets\" array)\n"
      "  -h, --help            this text\n",
      to);
}

/// NAME:N[:SEED] -> that family instance.
std::vector<unimem::tensor_lifetime> generate(const std::string& spec) {
  const std::size_t colon = spec.find(':');
  if (colon == std::string::npos) {
    throw support::usage_error(fmt::format("--family {}: use NAME:N[:SEED]", unimem::printable(spec)));
  }
  const std::size_t second = spec.find(':', colon + 1);
  const std::string count = spec.substr(colon + 1, second == std::string::npos ? std::string::npos : second - colon - 1);
  const std::size_t seed =
      second == std::string::npos ? 1 : support::parse_number<std::size_t>("--family SEED", spec.substr(second + 1));
  return unimem::make_plan_family(spec.substr(0, colon), support::parse_number<std::size_t>("--family N", count), seed)
      .tensors;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, print_offsets = false;
  std::string method = "unimem";
  std::size_t alignment = 0;  // 0: the default (1, or the file's own)
  std::size_t target = 0;
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
      else if (a == "--search-work") options.search_work = support::parse_number<std::size_t>(a, value());
      else if (a == "--time-limit-ms") {
        options.time_limit_ms = static_cast<double>(support::parse_number<std::uint32_t>(a, value()));
      } else if (a == "--target") target = support::parse_number<std::size_t>(a, value());
      else if (a == "--family") files.push_back(std::string("family:") + value());
      else if (a == "-h" || a == "--help") {
        usage(stdout);
        return 0;
      } else if (!a.empty() && a[0] == '-') throw support::usage_error(fmt::format("unknown option '{}'", unimem::printable(a)));
      else files.push_back(a);
    }
    if (method != "unimem" && method != "greedy-by-size") {
      throw support::usage_error(fmt::format("--method '{}': use unimem or greedy-by-size", unimem::printable(method)));
    }
    if (alignment != 0 && (alignment & (alignment - 1)) != 0) {
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
      const bool family = file.rfind("family:", 0) == 0;
      const bool minimalloc = !family && unimem::is_minimalloc_file(file);
      auto tensors = family ? generate(file.substr(7)) : unimem::load_tensor_lifetimes(file);
      if (alignment != 0 || !minimalloc) {
        for (auto& t : tensors) t.alignment = alignment != 0 ? alignment : 1;
      }
      options.target_bytes = target != 0 ? target : minimalloc ? unimem::minimalloc_capacity(file) : 0;
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
            .add("proved_optimal", plan.proved_optimal)
            .add("search_nodes", plan.search_nodes)
            .add("target_bytes", std::max(options.target_bytes, plan.lower_bound_bytes))
            .add("valid", static_cast<bool>(check));
        if (print_offsets) {
          std::string offsets = "[";
          for (std::size_t i = 0; i < plan.offsets.size(); ++i) offsets += (i ? ", " : "") + std::to_string(plan.offsets[i]);
          o.add_raw("offsets", offsets + "]");
        }
        std::printf("%s%s\n", first_object ? "" : ",", o.str().c_str());
        first_object = false;
      } else {
        std::printf("%s: %zu tensors, arena %zu B, lower bound %zu B (x%.4f), no reuse %zu B, %.3f ms, %s%s%s\n",
                    unimem::printable(file).c_str(), tensors.size(), plan.arena_bytes, plan.lower_bound_bytes, plan.ratio(), naive, ms,
                    plan.method.c_str(), plan.proved_optimal ? ", optimal" : "",
                    check ? "" : (", INVALID: " + check.message).c_str());
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

/// @file planner.hpp
/// @brief Static memory planning: tensors with known lifetimes get offsets in one arena.
///
/// The problem is offline dynamic storage allocation (NP-hard). The lower bound is the largest
/// number of bytes live at any one time; a plan that reaches it wastes nothing. `plan_memory`
/// decomposes the input exactly (independent parts; tensors live over a whole part stacked under
/// it), lays out exactly the parts whose structure allows it (never more than two tensors live:
/// two sides; one size: slots), runs a portfolio on the rest (a sweep through a segregated-fit
/// allocator, bottom-left fill, recombination into rectangles, greedy placement after Pisarchyk &
/// Lee 2020 while the conflict graph is affordable), and searches the parts still above the
/// bound with a decision procedure in the manner of Moffitt's MiniMalloc (2023), which can prove
/// a plan optimal. Budgets count work, not time, so the same input always gives the same plan
/// unless a time limit is set. See docs/planning.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

namespace unimem {

struct alloc_trace;  // trace.hpp

/// @brief One tensor to place: `bytes` live from op `first_op` through op `last_op` inclusive.
struct tensor_lifetime {
  std::size_t bytes = 0;
  std::size_t first_op = 0;
  std::size_t last_op = 0;    ///< inclusive; must be >= first_op
  std::size_t alignment = 1;  ///< the planned offset is a multiple of this (a power of two)
};

/// @brief How hard `plan_memory` tries. The budgets count work, not time, so by default the same
/// input always gives the same plan; a time limit trades that for a bound on the wall clock.
struct plan_options {
  /// @brief Search budget, in tensor visits (about a nanosecond each), shared by the parts of
  /// the input whose arena is still above the target after the heuristics; spent only there.
  /// 0 keeps the heuristics' best. The default is about 50-100 ms at most.
  std::uint64_t search_work = 10000000;
  /// @brief Work allowed for the greedy portfolio per 100 000 tensors (at least this much in
  /// total), in tensor plus neighbour visits: a greedy run over a part costs its tensors + 2 x its
  /// overlapping pairs x half the log of its mean degree (each tensor sorts its neighbours). A
  /// part whose run does not fit what is left keeps the O(n log n) placements that need no
  /// conflict graph.
  std::uint64_t greedy_work = 4000000;
  /// @brief Stop improving once the arena is at most this many bytes (0: the lower bound, below
  /// which no plan exists).
  std::size_t target_bytes = 0;
  /// @brief Wall-clock limit of the search in milliseconds; 0 (the default) for none. The search
  /// is anytime: it returns the best plan found when the limit or the node budget ends.
  double time_limit_ms = 0;
};

/// @brief Offsets for every tensor in one arena.
struct memory_plan {
  std::vector<std::size_t> offsets;    ///< offsets[i] belongs to tensors[i]
  std::size_t arena_bytes = 0;         ///< max over tensors of offset + bytes
  std::size_t lower_bound_bytes = 0;   ///< max over time of live bytes: no plan can be smaller
  std::size_t arena_alignment = 1;     ///< the arena's base must be aligned to this (max alignment)
  std::string method;                  ///< the placement that decided the arena, e.g. "two-sided" or "search"
  /// @brief True when no smaller arena exists: it equals the lower bound, or a search covered
  /// every placement below it.
  bool proved_optimal = false;
  std::size_t search_nodes = 0;        ///< search nodes spent (placements descended into)

  /// @brief arena_bytes / lower_bound_bytes (1.0 for an empty plan).
  double ratio() const noexcept {
    return lower_bound_bytes == 0 ? 1.0
                                  : static_cast<double>(arena_bytes) / static_cast<double>(lower_bound_bytes);
  }
  /// @brief True when the arena equals the lower bound, so no plan can do better.
  bool optimal() const noexcept { return arena_bytes == lower_bound_bytes; }
};

/// @brief Largest number of bytes live at one time (tensors of 0 bytes count for nothing).
/// @throws std::invalid_argument as plan_memory does
std::size_t lower_bound_bytes(const std::vector<tensor_lifetime>& tensors);

/// @brief Number of pairs of tensors (of more than 0 bytes) whose lifetimes overlap: the size of
/// the conflict graph that greedy placement walks. O(n log n).
/// @throws std::invalid_argument as plan_memory does
std::uint64_t overlapping_pairs(const std::vector<tensor_lifetime>& tensors);

/// @brief Bytes needed without reuse: the tensors laid out one after another, each offset aligned.
/// @throws std::invalid_argument as plan_memory does (including inputs too large to sum)
std::size_t naive_bytes(const std::vector<tensor_lifetime>& tensors);

/// @brief Plans the tensors into one arena: greedy portfolio plus bounded search (see the file's
/// description). Deterministic.
/// @throws std::invalid_argument for last_op < first_op, an alignment that is 0, not a power of
///         two or above 4 GiB, naming the tensor, or tensors that total more than 2^62 bytes
memory_plan plan_memory(const std::vector<tensor_lifetime>& tensors, const plan_options& options = {});

/// @brief Plain greedy-by-size with best fit (Pisarchyk & Lee 2020), the baseline that
/// plan_memory improves on. Exposed for comparisons and benchmarks. It builds the conflict graph,
/// so its time and memory grow with overlapping_pairs(): plan_memory switches to a sweep on dense
/// inputs, this does not.
/// @throws std::invalid_argument as plan_memory does
memory_plan plan_greedy_by_size(const std::vector<tensor_lifetime>& tensors);

/// @brief Result of validate_plan: `ok`, or what is wrong and which tensors are involved.
struct plan_check {
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  bool ok = true;
  std::string message;          ///< empty when ok
  std::size_t first = none;     ///< the offending tensor
  std::size_t second = none;    ///< the tensor it collides with, when there is one
  explicit operator bool() const noexcept { return ok; }
};

/// @brief Checks a plan: one offset per tensor, each offset aligned, each tensor inside the
/// arena, and no two tensors that are live at the same time overlapping in address. O(n log n).
plan_check validate_plan(const std::vector<tensor_lifetime>& tensors, const memory_plan& plan);

/// @brief Reads a lifetimes CSV (`tensor,first_op,last_op,bytes`, live first_op..last_op
/// inclusive). `source` names the input in error messages.
/// @throws std::runtime_error naming the source and line for malformed input
std::vector<tensor_lifetime> parse_lifetimes_csv(std::istream& in, const std::string& source = "<stream>");

/// @brief The tensors of an allocation trace: allocation k (trace_op::id k of a parsed trace)
/// becomes tensor k, live from its allocate to its free, time being the op's index in the trace.
/// An allocation never freed lives to the end of the trace.
/// @throws std::invalid_argument for a hand-built trace that frees what is not live (a trace from
///         load_trace or parse_trace never does)
std::vector<tensor_lifetime> tensor_lifetimes(const alloc_trace& trace);

/// @brief Reads an allocation trace (trace.hpp, with its rules) and returns tensor_lifetimes() of it.
/// @throws std::runtime_error naming the source, the line and the value for malformed input
std::vector<tensor_lifetime> parse_alloc_trace(std::istream& in, const std::string& source = "<stream>");

/// @brief Reads a lifetimes CSV, an allocation trace or a MiniMalloc CSV (minimalloc_io.hpp) from a
/// file, plain or gzip-compressed; the header line tells the format apart (an allocation trace goes
/// through load_trace's reader). Every line is read through one bounded reader: a binary file is
/// refused at its first line.
/// @throws std::runtime_error when the file cannot be read or its header is none of the formats
std::vector<tensor_lifetime> load_tensor_lifetimes(const std::string& path);

}  // namespace unimem

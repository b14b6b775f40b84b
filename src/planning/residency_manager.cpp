// residency_manager: the state of every model and lane under one lock — charging the budget,
// lazy loads, leases, eviction, back-pressure and shared weights files. One file on purpose
// (about 740 lines): every path changes the same state under the same invariant (the budget
// charged equals what is resident, whatever throws), which is easier to check in one place.
#include <unimem/planning/residency_manager.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/planning/usage_publisher.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/resources/policy.hpp>

#include "detail/cuda_check.hpp"
#include "detail/size_math.hpp"
#include "planning/residency_state.hpp"
#include "planning/weights_loading.hpp"

namespace unimem {

using residency_detail::lane;
using residency_detail::model;
using residency_detail::weights_block;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* who = "unimem::residency_manager";
constexpr std::string_view lane_tag_prefix = "lane:";
constexpr std::string_view resident_tag_name = "resident";
// Other users of the budget refund without telling the manager, so a wait for room looks again
// this often.
constexpr auto room_poll = std::chrono::milliseconds(10);

std::string text(std::size_t bytes) { return detail::format_bytes(bytes); }

std::string weights_key(const model_spec& spec) {
  if (spec.weights_file.empty()) return std::string(1, '\0') + spec.name;  // a name no path has
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(spec.weights_file, ec);
  if (ec) p = std::filesystem::path(spec.weights_file).lexically_normal();
  return p.string();
}

std::string registered_names(const residency_manager::state& s) {
  std::string out;
  for (const model& m : s.models) out += (out.empty() ? "\"" : ", \"") + printable(m.spec.name) + "\"";
  return out.empty() ? "none" : out;
}

void setup(residency_manager::state& s, std::shared_ptr<memory_budget> budget, memory_resource& weights,
           memory_resource& activations, residency_options options) {
  if (!budget) {
    throw std::invalid_argument(
        "unimem::residency_manager(budget = nullptr, ...): needs a budget; make one with "
        "std::make_shared<unimem::memory_budget>(name, limit_bytes), on a Jetson with the limit from "
        "unimem::integrated_budget(*unimem::read_meminfo())");
  }
  const resource_traits wt = weights.traits();
  if (!wt.host_accessible) {
    if (options.staging == nullptr || !options.staging->traits().host_accessible) {
      throw std::invalid_argument(fmt::format(
          "unimem::residency_manager: weights go to {} ({} memory), which the CPU cannot write, and "
          "residency_options::staging is {}; pass host-writable staging (e.g. a unimem::pinned_resource), or put "
          "the weights in memory the CPU can write (managed memory on a Jetson)",
          weights.name(), to_string(wt.kind), options.staging == nullptr ? "null" : "not host-accessible"));
    }
    s.staging = options.staging;
  }
  s.budget = std::move(budget);
  s.weights = &weights;
  s.activations = &activations;
  s.calls = options.calls != nullptr ? options.calls : &cuda_calls::runtime();
  if (options.profile != nullptr) {
    s.profile = *options.profile;
    s.has_profile = true;
  } else if (s.staging != nullptr || wt.kind == memory_kind::managed) {
    s.profile = device_profile::current();
    s.has_profile = true;
  }
  options.profile = nullptr;
  if (options.publisher != nullptr) s.resident_tag = options.publisher->tag(resident_tag_name);
  s.options = std::move(options);
}

}  // namespace

// ---- state: everything here runs with `mu` held ------------------------------------------------

void residency_manager::state::charge_done(std::size_t weight_bytes, std::size_t activation_bytes) {
  counters.weight_bytes += weight_bytes;
  counters.activation_bytes += activation_bytes;
  counters.resident_bytes += weight_bytes + activation_bytes;
  counters.peak_resident_bytes = std::max(counters.peak_resident_bytes, counters.resident_bytes);
}

void residency_manager::state::refund(std::size_t weight_bytes, std::size_t activation_bytes) {
  budget->refund(weight_bytes + activation_bytes);
  counters.weight_bytes -= weight_bytes;
  counters.activation_bytes -= activation_bytes;
  counters.resident_bytes -= weight_bytes + activation_bytes;
}

void residency_manager::state::free_block(weights_block& b) noexcept {
  try {
    weights->deallocate(b.ptr, b.bytes, default_alignment);
  } catch (const std::exception& e) {
    // The memory is the resource's problem now; the manager no longer holds it either way.
    std::fprintf(stderr, "%s: freeing the weights of \"%s\" (%zu B) failed: %s\n", who, b.file.c_str(), b.bytes,
                 e.what());
  }
  refund(b.bytes, 0);
  b.ptr = nullptr;
  b.st = weights_block::status::absent;
}

void residency_manager::state::free_arena(lane& l) noexcept {
  const std::size_t bytes = l.arena->arena_bytes();
  l.arena.reset();
  refund(0, bytes);
}

void residency_manager::state::release_lane_if_idle(lane& l) noexcept {
  if (!l.busy && l.resident_models == 0 && l.arena) free_arena(l);
}

void residency_manager::state::unload(model& m) noexcept {
  if (m.spec.unloader) {
    try {
      m.spec.unloader(m.spec.name);
    } catch (...) {
      ++counters.unloader_errors;
    }
  }
  m.resident = false;
  ++m.evictions;
  ++counters.evictions;
  --m.lane->resident_models;
  if (m.block != nullptr && --m.block->holders == 0 && m.block->st == weights_block::status::resident) {
    free_block(*m.block);
  }
  release_lane_if_idle(*m.lane);
}

std::vector<model*> residency_manager::state::candidates() {
  std::vector<model*> out;
  for (model& m : models) {
    if (m.resident && !m.held) out.push_back(&m);
  }
  // The eviction order: lowest priority first, then least recently used. last_use is a counter
  // bumped at every acquire and release, so there are no ties.
  std::sort(out.begin(), out.end(), [](const model* a, const model* b) {
    if (a->spec.priority != b->spec.priority) return a->spec.priority < b->spec.priority;
    return a->last_use < b->last_use;
  });
  return out;
}

std::size_t residency_manager::state::freeable(const std::vector<model*>& victims) const {
  std::unordered_map<const weights_block*, std::size_t> block_victims;
  std::unordered_map<const lane*, std::size_t> lane_victims;
  for (const model* v : victims) {
    if (v->block != nullptr) ++block_victims[v->block];
    ++lane_victims[v->lane];
  }
  std::size_t bytes = 0;
  for (const auto& [b, n] : block_victims) {
    if (b->st == weights_block::status::resident && n == b->holders) bytes += b->bytes;
  }
  for (const auto& [l, n] : lane_victims) {
    if (l->arena && !l->busy && n == l->resident_models) bytes += l->arena->arena_bytes();
  }
  return bytes;
}

bool residency_manager::state::evict_for(std::size_t bytes, bool charge) {
  auto fits = [&] {
    if (charge) return budget->try_charge(bytes);
    const std::size_t used = budget->used(), limit = budget->limit();
    return used <= limit && limit - used >= bytes;
  };
  if (fits()) return true;
  const std::vector<model*> victims = candidates();
  const std::size_t used = budget->used(), limit = budget->limit();
  const std::size_t used_after = used - std::min(used, freeable(victims));
  if (used_after > limit || limit - used_after < bytes) return false;  // evict nothing for nothing
  for (model* v : victims) {
    unload(*v);
    if (fits()) return true;
  }
  return false;  // other users of the budget took the room meanwhile
}

void residency_manager::state::publish() noexcept {
  usage_publisher* pub = options.publisher;
  if (pub == nullptr) return;
  try {
    for (const model& m : models) pub->set(m.tag, m.resident ? m.spec.weight_bytes : 0);
    for (const auto& [name, l] : lanes) pub->set(l.tag, l.arena ? l.arena->arena_bytes() : 0);
    pub->set(resident_tag, counters.resident_bytes);
  } catch (...) {
    // Monitoring must never break the models; the tags were all created at add_model().
  }
}

std::string residency_manager::state::resident_report() const {
  std::string resident, leased;
  for (const model& m : models) {
    if (!m.resident) continue;  // acquires in progress hold nothing yet but their reservation
    std::string item = fmt::format("\"{}\" {}", printable(m.spec.name), text(m.spec.weight_bytes));
    if (m.block != nullptr && m.block->holders > 1) item += " (weights shared)";
    std::string& list = m.held ? leased : resident;
    list += (list.empty() ? "" : ", ") + item;
  }
  std::string arenas;
  for (const auto& [name, l] : lanes) {
    if (!l.arena) continue;
    arenas += fmt::format("{}lane \"{}\" arena {}{}", arenas.empty() ? "" : ", ", printable(name), text(l.arena->arena_bytes()),
                          l.busy ? " (busy)" : "");
  }
  return fmt::format("leased: {}; resident without a lease: {}; activation arenas: {}",
                     leased.empty() ? "none" : leased, resident.empty() ? "none" : resident,
                     arenas.empty() ? "none" : arenas);
}

// ---- construction ----------------------------------------------------------------------------

residency_manager::residency_manager(std::shared_ptr<memory_budget> budget, const device_profile& profile,
                                     residency_options options)
    : state_(std::make_shared<state>()) {
  state& s = *state_;
  const recommendation w = recommend(profile, access_pattern::weights);
  // Attached to the host where the CPU may not touch managed memory while kernels run: the load
  // then proceeds beside other models' kernels, and fill_weights() attaches it globally after.
  if (w.kind == memory_kind::managed && !profile.concurrent_managed_access) {
    s.owned_weights = std::make_unique<managed_resource>(managed_attach::host, profile);
  } else {
    s.owned_weights = make_resource(w.kind, profile);
  }
  if (w.staging) {
    s.owned_staging = make_resource(*w.staging, profile);
    options.staging = s.owned_staging.get();
  }
  s.owned_activations = make_resource(recommend(profile, access_pattern::gpu_scratch).kind, profile);
  if (options.profile == nullptr) options.profile = &profile;
  setup(s, std::move(budget), *s.owned_weights, *s.owned_activations, std::move(options));
}

residency_manager::residency_manager(std::shared_ptr<memory_budget> budget, memory_resource& weights,
                                     memory_resource& activations, residency_options options)
    : state_(std::make_shared<state>()) {
  setup(*state_, std::move(budget), weights, activations, std::move(options));
}

residency_manager::~residency_manager() {
  state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  s.closed = true;
  std::string alive;
  for (model& m : s.models) {
    if (m.held) {
      alive += (alive.empty() ? "\"" : ", \"") + printable(m.spec.name) + "\"";
    } else if (m.resident) {
      s.unload(m);
    }
  }
  if (!alive.empty()) {
    std::fprintf(stderr,
                 "%s destroyed while leases of %s are alive: those models are freed when their leases end; end "
                 "every lease before destroying the manager (its resources must outlive the leases)\n",
                 who, alive.c_str());
  }
  s.publish();
  s.options.publisher = nullptr;  // it need not outlive the manager, only the manager's lifetime
}

// ---- registration ----------------------------------------------------------------------------

void residency_manager::add_model(model_spec spec) {
  state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  const std::string call = fmt::format("{}::add_model(\"{}\")", who, printable(spec.name));
  if (spec.name.empty()) {
    throw std::invalid_argument(std::string(who) +
                                "::add_model: model_spec::name is empty; give every model a unique name");
  }
  if (s.by_name.count(spec.name) != 0) {
    throw std::invalid_argument(call + ": a model of that name is already registered; names must be unique (a "
                                       "second model may share the first one's weights through weights_file)");
  }
  if (spec.lane.empty()) {
    throw std::invalid_argument(call + ": model_spec::lane is empty; leave it at \"main\" for models that run one "
                                       "after another, or name one lane per thread that runs models at the same time");
  }
  if (spec.weight_bytes > 0 && !spec.loader && spec.weights_file.empty()) {
    throw std::invalid_argument(fmt::format(
        "{}: weight_bytes = {} but neither a loader nor a weights_file; set weights_file to read the weights from "
        "a file, or give a loader that fills weight_load::destination",
        call, spec.weight_bytes));
  }
  if (spec.activation_bytes > 0 && !spec.activation_tensors.empty()) {
    throw std::invalid_argument(fmt::format(
        "{}: both activation_bytes ({} B) and activation_tensors ({} tensors); give one of them (the tensors are "
        "planned, and their arena is the model's activation bytes)",
        call, spec.activation_bytes, spec.activation_tensors.size()));
  }
  const std::string key = weights_key(spec);
  const auto known = s.blocks.find(key);
  if (known != s.blocks.end() && known->second.bytes != spec.weight_bytes) {
    throw std::invalid_argument(fmt::format(
        "{}: weights_file \"{}\" is already registered with weight_bytes = {} B, this model says {} B; models "
        "sharing a file share one copy, so their sizes must agree (check the file's size)",
        call, printable(spec.weights_file), known->second.bytes, spec.weight_bytes));
  }
  memory_plan plan;
  if (!spec.activation_tensors.empty()) {
    try {
      plan = plan_memory(spec.activation_tensors);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(call + ": activation_tensors: " + e.what());
    }
  }
  std::size_t model_tag = 0, lane_tag = 0;
  const bool new_lane = s.lanes.find(spec.lane) == s.lanes.end();
  if (usage_publisher* pub = s.options.publisher) {
    const std::string lane_tag_name = std::string(lane_tag_prefix) + spec.lane;
    if (spec.name.size() > usage_publisher::max_tag_length || lane_tag_name.size() > usage_publisher::max_tag_length ||
        spec.name == resident_tag_name || spec.name.rfind(lane_tag_prefix, 0) == 0) {
      throw std::invalid_argument(fmt::format(
          "{}: with a usage_publisher, model names are tags of at most {} bytes other than \"{}\" and \"{}...\", "
          "and lane names at most {} bytes; shorten the name (this one is {} bytes, its lane {})",
          call, usage_publisher::max_tag_length, resident_tag_name, lane_tag_prefix,
          usage_publisher::max_tag_length - lane_tag_prefix.size(), spec.name.size(), spec.lane.size()));
    }
    model_tag = pub->tag(spec.name);  // may throw length_error: nothing registered yet
    if (new_lane) lane_tag = pub->tag(lane_tag_name);
  }

  // Nothing below throws but allocation failures.
  if (!spec.loader && !spec.weights_file.empty()) spec.loader = load_weights_file(spec.weights_file);
  model m;
  m.tag = model_tag;
  if (spec.weight_bytes > 0) {
    auto [it, inserted] = s.blocks.try_emplace(key);
    if (inserted) {
      it->second.key = key;
      it->second.file = spec.weights_file.empty() ? spec.name : spec.weights_file;
      it->second.bytes = spec.weight_bytes;
    }
    m.block = &it->second;
  }
  auto [lane_it, lane_inserted] = s.lanes.try_emplace(spec.lane);
  lane& l = lane_it->second;
  if (lane_inserted) {
    l.name = spec.lane;
    l.tag = lane_tag;
  }
  if (!spec.activation_tensors.empty()) {
    m.activation_bytes = plan.arena_bytes;
    m.activation_alignment = std::max(default_alignment, plan.arena_alignment);
    m.tensor_offsets = std::move(plan.offsets);
  } else {
    m.activation_bytes = spec.activation_bytes;
  }
  // The lane's models never overlap in time, so the planned arena is the largest of them.
  const std::size_t op = l.tensors.size();
  l.tensors.push_back(tensor_lifetime{m.activation_bytes, op, op, m.activation_alignment});
  l.plan = plan_memory(l.tensors);
  m.lane = &l;
  m.spec = std::move(spec);
  const std::size_t index = s.models.size();
  l.models.push_back(index);
  s.models.push_back(std::move(m));
  s.by_name.emplace(s.models.back().spec.name, index);
  s.publish();
}

// ---- acquire and release ---------------------------------------------------------------------

residency_manager::lease residency_manager::acquire(std::string_view name) {
  return acquire(name, state_->options.wait);
}

residency_manager::lease residency_manager::acquire(std::string_view name, std::chrono::milliseconds wait) {
  // A century stands for "forever" without overflowing the clock.
  const auto longest = std::chrono::milliseconds(std::chrono::hours(24 * 365 * 100));
  const auto bounded = std::clamp(wait, std::chrono::milliseconds(0), longest);
  return std::move(*acquire_until(name, clock_type::now() + bounded, true));
}

std::optional<residency_manager::lease> residency_manager::try_acquire(std::string_view name) {
  return acquire_until(name, clock_type::now(), false);
}

std::optional<residency_manager::lease> residency_manager::acquire_until(std::string_view name,
                                                                         clock_type::time_point deadline, bool wait) {
  state& s = *state_;
  const auto started = clock_type::now();
  std::unique_lock<std::mutex> lock(s.mu);
  const auto found = s.by_name.find(name);
  if (found == s.by_name.end()) {
    throw std::invalid_argument(fmt::format("{}::acquire(\"{}\"): no model of that name is registered ({}); "
                                            "register it with add_model() first",
                                            who, printable(name), registered_names(s)));
  }
  const std::size_t index = found->second;
  model& m = s.models[index];
  lane& l = *m.lane;
  const std::string call = fmt::format("{}::acquire(\"{}\")", who, printable(m.spec.name));
  auto waited_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started).count();
  };
  bool waited = false;
  auto wait_until = [&](clock_type::time_point until) {
    if (!waited) ++s.counters.waits;
    waited = true;
    s.cv.wait_until(lock, until);
  };

  // 1. The lane: one model of a lane runs at a time.
  while (l.busy) {
    if (!wait) return std::nullopt;
    if (clock_type::now() >= deadline) {
      ++s.counters.timeouts;
      throw acquire_timeout(fmt::format(
          "{}: lane \"{}\" stayed held by \"{}\" for the whole wait ({} ms); models of one lane run one after "
          "another, so end that lease first (if this thread holds it, acquire() waits for itself), or register "
          "\"{}\" in a lane of its own to run both at once",
          call, printable(l.name), printable(s.models[l.holder].spec.name), waited_ms(), printable(m.spec.name)));
    }
    wait_until(deadline);
  }
  l.busy = true;
  l.holder = index;
  m.held = true;
  m.last_use = ++s.clock;
  weights_block* b = m.block;
  if (b != nullptr && !m.resident) ++b->holders;  // pinned: evicting others must not free it
  auto make_lease = [&](bool loaded_now) {
    ++s.counters.acquires;
    lease out;
    out.state_ = state_;
    out.model_ = index;
    out.name_ = &m.spec.name;
    out.weights_ = b != nullptr ? b->ptr : nullptr;
    out.weight_bytes_ = m.spec.weight_bytes;
    out.activations_ = m.activation_bytes > 0 ? l.arena->base() : nullptr;
    out.activation_bytes_ = m.activation_bytes;
    out.tensor_offsets_ = m.spec.activation_tensors.empty() ? nullptr : &m.tensor_offsets;
    out.loaded_now_ = loaded_now;
    return out;
  };
  if (m.resident) return make_lease(false);

  // Undoes the reservation when the acquire gives up or fails before the model is resident.
  auto undo = [&]() noexcept {
    m.held = false;
    if (b != nullptr && --b->holders == 0 && b->st == weights_block::status::resident) s.free_block(*b);
    l.busy = false;
    s.release_lane_if_idle(l);
    s.publish();
    s.cv.notify_all();
  };

  // 2. Room for what is missing: the weights (unless a resident model shares them) and the lane's
  //    arena (unless a resident lane-mate already has it).
  std::size_t need_weights = 0, need_arena = 0;
  for (;;) {
    if (b != nullptr && b->st == weights_block::status::loading) {
      if (!wait) {
        undo();
        return std::nullopt;
      }
      if (clock_type::now() >= deadline) {
        ++s.counters.timeouts;
        const std::string msg = fmt::format(
            "{}: its weights (\"{}\", shared) are being loaded for \"{}\" by another thread, and the load did not "
            "finish within the wait ({} ms); wait longer (residency_options::wait or acquire(name, wait))",
            call, b->file, b->loading_for, waited_ms());
        undo();
        throw acquire_timeout(msg);
      }
      wait_until(deadline);
      continue;
    }
    if (l.arena && (l.arena->arena_bytes() < m.activation_bytes || l.arena->alignment() < m.activation_alignment)) {
      // Registered after the arena was made, and larger: the arena is rebuilt, which needs its
      // resident lane-mates gone (they hold its address). They are idle: this acquire holds the lane.
      for (std::size_t i : l.models) {
        if (s.models[i].resident) s.unload(s.models[i]);
      }
      s.free_arena(l);
    }
    need_weights = (b != nullptr && b->st == weights_block::status::absent) ? b->bytes : 0;
    need_arena = (l.arena || m.activation_bytes == 0) ? 0 : l.plan.arena_bytes;
    // What the model holds once resident, whether or not part of it is there already.
    const std::size_t weights_total = b != nullptr ? b->bytes : 0;
    const std::size_t arena_total = m.activation_bytes == 0 ? 0 : l.arena ? l.arena->arena_bytes() : l.plan.arena_bytes;
    std::size_t need = 0, footprint = 0;
    if (!detail::checked_add(need_weights, need_arena, need) ||
        !detail::checked_add(weights_total, arena_total, footprint) || footprint > s.budget->limit()) {
      const std::string msg = fmt::format(
          "{}: needs {} resident at once (weights {} + lane \"{}\" arena {}) but budget \"{}\" allows {} in all, so "
          "this model can never be resident under it; raise the limit, or shrink the model (fewer weight bytes, a "
          "smaller activation plan, or a lane of its own if a larger lane-mate sets the arena)",
          call, text(detail::saturating_add(weights_total, arena_total)), text(weights_total), printable(l.name),
          text(arena_total), s.budget->name(), text(s.budget->limit()));
      undo();
      throw out_of_memory(detail::saturating_add(weights_total, arena_total), who, msg);
    }
    if (need == 0 || s.evict_for(need, true)) break;
    if (!wait) {
      undo();
      return std::nullopt;
    }
    const auto now = clock_type::now();
    if (now >= deadline) {
      ++s.counters.timeouts;
      const std::size_t used = s.budget->used(), limit = s.budget->limit();
      const std::size_t after = used - std::min(used, s.freeable(s.candidates()));
      const std::size_t missing = after > limit ? need + (after - limit) : need - std::min(need, limit - after);
      const std::string msg = fmt::format(
          "{}: needs {} (weights {} + lane \"{}\" arena {}) in budget \"{}\", which allows {} and has {} in use ({} "
          "by this manager); {}; even after evicting every model without a lease {} would be missing. Waited {} ms "
          "for leases to end — end leases sooner (leased models are never evicted), give this acquire a longer "
          "wait, lower what other users of the budget hold, or raise the limit",
          call, text(need), text(need_weights), printable(l.name), text(need_arena), s.budget->name(), text(limit), text(used),
          text(s.counters.resident_bytes), s.resident_report(), text(missing), waited_ms());
      undo();
      throw out_of_memory(need, who, msg);
    }
    wait_until(std::min(deadline, now + room_poll));
  }

  // 3. Allocate what was charged. An allocation that fails returns its charge and the reservation.
  try {
    if (need_arena > 0) {
      l.arena.emplace(l.tensors, l.plan, *s.activations);
      s.charge_done(0, need_arena);
    }
  } catch (const out_of_memory& e) {
    s.budget->refund(need_weights + need_arena);
    undo();
    throw out_of_memory(need_arena, who,
                        fmt::format("{}: the budget had room for lane \"{}\"'s arena ({}) but {} refused it ({}); the "
                                    "budget's limit is above what the memory can give: lower it",
                                    call, printable(l.name), text(need_arena), s.activations->name(), e.what()));
  } catch (...) {
    s.budget->refund(need_weights + need_arena);
    undo();
    throw;
  }
  if (need_weights == 0) {
    m.resident = true;
    ++m.loads;
    ++s.counters.loads;
    ++l.resident_models;
    s.publish();
    return make_lease(true);
  }
  try {
    b->ptr = s.weights->allocate(need_weights, default_alignment);
  } catch (const out_of_memory& e) {
    s.budget->refund(need_weights);
    undo();
    throw out_of_memory(need_weights, who,
                        fmt::format("{}: the budget had room for the weights ({}) but {} refused them ({}); the "
                                    "budget's limit is above what the memory can give: lower it",
                                    call, text(need_weights), s.weights->name(), e.what()));
  } catch (...) {
    s.budget->refund(need_weights);
    undo();
    throw;
  }
  s.charge_done(need_weights, 0);
  b->st = weights_block::status::loading;
  b->loading_for = m.spec.name;
  s.publish();

  // 4. Load without the lock: other threads keep acquiring resident models meanwhile. The block
  //    is `loading`, so nobody frees it or loads it twice; the lane is held, so its arena stays.
  void* const destination = b->ptr;
  lock.unlock();
  try {
    residency_detail::fill_weights({m.spec.name, b->file, m.spec.loader, *s.weights, s.staging, destination,
                                    need_weights, s.has_profile ? &s.profile : nullptr, s.options.load_stream,
                                    *s.calls});
  } catch (...) {
    lock.lock();
    ++s.counters.failed_loads;
    s.free_block(*b);
    b->loading_for.clear();
    undo();
    throw;
  }
  lock.lock();
  b->st = weights_block::status::resident;
  b->loading_for.clear();
  ++s.counters.weight_reads;
  m.resident = true;
  ++m.loads;
  ++s.counters.loads;
  ++l.resident_models;
  s.publish();
  s.cv.notify_all();  // acquires of models sharing these weights
  return make_lease(true);
}

// ---- explicit eviction and queries -----------------------------------------------------------

bool residency_manager::evict(std::string_view name) {
  state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  const auto found = s.by_name.find(name);
  if (found == s.by_name.end()) {
    throw std::invalid_argument(fmt::format("{}::evict(\"{}\"): no model of that name is registered ({})", who, printable(name),
                                            registered_names(s)));
  }
  model& m = s.models[found->second];
  if (m.held) {
    throw std::logic_error(fmt::format("{}::evict(\"{}\"): the model is leased (or being acquired); end its lease "
                                       "first: a model in use is never evicted",
                                       who, name));
  }
  if (!m.resident) return false;
  s.unload(m);
  s.publish();
  s.cv.notify_all();
  return true;
}

bool residency_manager::make_room(std::size_t bytes) {
  state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  const bool ok = s.evict_for(bytes, false);
  s.publish();
  s.cv.notify_all();
  return ok;
}

std::vector<std::string> residency_manager::eviction_order() const {
  state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<std::string> out;
  for (const model* m : s.candidates()) out.push_back(m->spec.name);
  return out;
}

std::vector<model_status> residency_manager::models() const {
  const state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<model_status> out;
  out.reserve(s.models.size());
  for (const model& m : s.models) {
    out.push_back({m.spec.name, m.spec.lane, m.spec.priority, m.spec.weight_bytes, m.activation_bytes, m.resident,
                   m.held, m.loads, m.evictions});
  }
  return out;
}

residency_stats residency_manager::stats() const {
  const state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  return s.counters;
}

residency_requirements residency_manager::requirements() const {
  const state& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  residency_requirements r;
  for (const model& m : s.models) {
    const std::size_t arena = m.activation_bytes > 0 ? m.lane->plan.arena_bytes : 0;
    // Saturating: sizes no budget can hold must not wrap into small requirements.
    r.minimum_bytes = std::max(r.minimum_bytes, detail::saturating_add(m.spec.weight_bytes, arena));
    r.all_resident_bytes =
        detail::saturating_add(r.all_resident_bytes, detail::saturating_add(m.spec.weight_bytes, m.activation_bytes));
  }
  for (const auto& [key, b] : s.blocks) r.no_eviction_bytes = detail::saturating_add(r.no_eviction_bytes, b.bytes);
  for (const auto& [name, l] : s.lanes) {
    r.no_eviction_bytes = detail::saturating_add(r.no_eviction_bytes, l.plan.arena_bytes);
  }
  return r;
}

const std::shared_ptr<memory_budget>& residency_manager::budget() const noexcept { return state_->budget; }
memory_resource& residency_manager::weights_resource() const noexcept { return *state_->weights; }
memory_resource& residency_manager::activation_resource() const noexcept { return *state_->activations; }
memory_resource* residency_manager::staging_resource() const noexcept { return state_->staging; }

// ---- lease -----------------------------------------------------------------------------------

residency_manager::lease::lease(lease&& other) noexcept { *this = std::move(other); }

residency_manager::lease& residency_manager::lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    model_ = other.model_;
    name_ = other.name_;
    weights_ = other.weights_;
    weight_bytes_ = other.weight_bytes_;
    activations_ = other.activations_;
    activation_bytes_ = other.activation_bytes_;
    tensor_offsets_ = other.tensor_offsets_;
    loaded_now_ = other.loaded_now_;
  }
  return *this;
}

void residency_manager::lease::release() noexcept {
  if (!state_) return;
  const std::shared_ptr<residency_manager::state> s = std::move(state_);
  std::lock_guard<std::mutex> lock(s->mu);
  model& m = s->models[model_];
  m.held = false;
  m.last_use = ++s->clock;
  m.lane->busy = false;
  if (s->closed) s->unload(m);  // the manager is gone: nothing keeps it resident
  s->publish();
  s->cv.notify_all();
}

void* residency_manager::lease::activation(std::size_t i) const {
  if (tensor_offsets_ == nullptr || i >= tensor_offsets_->size()) {
    throw std::out_of_range(fmt::format(
        "unimem::residency_manager::lease::activation({}) of \"{}\": the model was registered with {} activation "
        "tensors; use activations() for a model registered with activation_bytes",
        i, name_ != nullptr ? *name_ : std::string("(no model)"),
        tensor_offsets_ == nullptr ? 0 : tensor_offsets_->size()));
  }
  return static_cast<unsigned char*>(activations_) + (*tensor_offsets_)[i];
}

}  // namespace unimem

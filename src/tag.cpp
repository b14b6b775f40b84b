#include <unimem/tag.hpp>

#include <deque>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

namespace unimem {
namespace {

// Interning is rare (once per scope construction by name); lookups of the current tag are a
// thread_local read. A deque keeps the stored names' addresses stable for the map's keys.
struct tag_table {
  std::mutex mutex;
  std::deque<std::string> names{"(untagged)"};
  std::unordered_map<std::string_view, tag_id> ids;
};

tag_table& table() {
  static tag_table t;
  return t;
}

thread_local tag_id current = untagged;

}  // namespace

tag_id intern_tag(std::string_view name) {
  if (name.empty()) {
    throw std::invalid_argument("unimem::intern_tag(\"\"): a tag needs a non-empty name, e.g. the model's name");
  }
  tag_table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (auto it = t.ids.find(name); it != t.ids.end()) return it->second;
  if (t.names.size() > std::numeric_limits<tag_id>::max()) {
    throw std::length_error(fmt::format(
        "unimem::intern_tag(\"{}\"): already {} tags; tags name models or subsystems, not allocations",
        name, t.names.size() - 1));
  }
  const auto id = static_cast<tag_id>(t.names.size());
  t.names.emplace_back(name);
  t.ids.emplace(t.names.back(), id);
  return id;
}

std::string tag_name(tag_id id) {
  tag_table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (id >= t.names.size()) {
    throw std::out_of_range(fmt::format("unimem::tag_name({}): no such tag; ids come from intern_tag()", id));
  }
  return t.names[id];
}

tag_id current_tag() noexcept { return current; }

tag_scope::tag_scope(std::string_view name) : tag_scope(intern_tag(name)) {}

tag_scope::tag_scope(tag_id id) noexcept : id_(id), previous_(current) { current = id; }

tag_scope::~tag_scope() { current = previous_; }

}  // namespace unimem

/// @file tag.hpp
/// @brief Allocation tags: a name (e.g. a model) that statistics and leak reports group by.
///
/// A tag is set per thread with an RAII scope, so code that allocates (a framework, a model
/// loader) needs no extra parameter: everything allocated while a `tag_scope` is alive on the
/// thread carries its tag.
///
/// @code
///   unimem::tag_scope scope{"detector"};
///   void* p = pool.allocate(1 << 20);   // counted under "detector"
/// @endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace unimem {

/// @brief Small integer naming a tag; 0 is "untagged".
using tag_id = std::uint16_t;

/// @brief The id of allocations made outside any tag_scope.
inline constexpr tag_id untagged = 0;

/// @brief Interns `name` and returns its id (the same name always gives the same id).
/// @throws std::length_error when more than 65535 distinct tags are used
/// @throws std::invalid_argument when `name` is empty
tag_id intern_tag(std::string_view name);

/// @brief The name of a tag id ("(untagged)" for 0).
/// @throws std::out_of_range for an id intern_tag never returned
std::string tag_name(tag_id id);

/// @brief The tag of the calling thread's innermost live tag_scope, or `untagged`.
tag_id current_tag() noexcept;

/// @brief Sets the calling thread's tag until destruction; scopes nest.
class tag_scope {
 public:
  explicit tag_scope(std::string_view name);
  explicit tag_scope(tag_id id) noexcept;
  ~tag_scope();
  tag_scope(const tag_scope&) = delete;
  tag_scope& operator=(const tag_scope&) = delete;

  tag_id id() const noexcept { return id_; }

 private:
  tag_id id_;
  tag_id previous_;
};

/// @brief Bytes and count of live allocations under one tag.
struct tag_usage {
  tag_id tag = untagged;
  std::string name;
  std::size_t bytes = 0;
  std::size_t count = 0;
};

/// @brief What a pool still had allocated when it was destroyed.
struct leak_report {
  std::string resource;          ///< the pool's name
  std::size_t bytes = 0;         ///< requested bytes still live
  std::size_t count = 0;         ///< allocations still live
  std::vector<tag_usage> by_tag; ///< largest first
};

}  // namespace unimem

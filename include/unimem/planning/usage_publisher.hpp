/// @file usage_publisher.hpp
/// @brief Per-tag memory usage published in POSIX shared memory, so that `unimem-top` (or any
/// reader) can show what each opted-in process holds, by tag, without attaching to it.
///
/// A process that opts in creates one shared-memory object, "/unimem.<pid>" (on Linux the file
/// /dev/shm/unimem.<pid>), holding a fixed table of tag name -> current and peak bytes. Each
/// table entry is a seqlock: a writer makes the sequence odd, writes, makes it even again; a
/// reader retries until it reads the same even sequence before and after, so it never sees a
/// torn pair (current from one update, peak from another). Every field is a lock-free 64-bit
/// atomic, which is address-free and therefore valid across processes. The layout is described
/// in docs/planning.md so tools in other languages can read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace unimem {

/// @brief Publishes current and peak bytes per tag. Thread-safe: updates to one tag from several
/// threads serialise on that tag's seqlock; tag() takes a mutex. Any code can feed it (e.g. a
/// statistics adaptor calling add() on every allocate and free).
class usage_publisher {
 public:
  static constexpr std::size_t default_tags = 64;
  static constexpr std::size_t max_tag_length = 47;    ///< bytes of a tag name
  static constexpr std::size_t max_label_length = 63;  ///< bytes of the process label

  /// @brief Creates and maps the shared-memory object.
  /// @param label   shown by readers next to the pid, e.g. "detector"; truncated to 63 bytes
  /// @param tags    capacity of the tag table
  /// @param segment object name; empty gives "/unimem.<pid>" for the first publisher of a process
  ///                and "/unimem.<pid>.<n>" for later ones. Readers list objects named "unimem.*".
  /// @throws std::invalid_argument for tags == 0 or a segment name not of the form "/name"
  /// @throws std::system_error     when the object cannot be created or mapped
  explicit usage_publisher(std::string_view label = {}, std::size_t tags = default_tags, std::string segment = {});
  /// @brief Unmaps and unlinks the object: a process that exits cleanly leaves nothing behind
  /// (readers skip objects whose pid is gone).
  ~usage_publisher();
  usage_publisher(const usage_publisher&) = delete;
  usage_publisher& operator=(const usage_publisher&) = delete;

  /// @brief The entry for `name`, created on first use with current = peak = 0.
  /// @throws std::invalid_argument for an empty name or one longer than max_tag_length
  /// @throws std::length_error     when the table is full
  std::size_t tag(std::string_view name);

  /// @brief Sets current bytes; peak becomes max(peak, current).
  /// @throws std::out_of_range for an unknown tag index
  void set(std::size_t tag, std::uint64_t current_bytes);
  /// @brief Sets both, for a source that tracks its own peak (peak is raised to current if lower).
  void set(std::size_t tag, std::uint64_t current_bytes, std::uint64_t peak_bytes);
  /// @brief current += delta (saturating at 0); peak follows.
  void add(std::size_t tag, std::int64_t delta_bytes);

  /// @brief The object's name, e.g. "/unimem.4242".
  const std::string& segment() const noexcept;
  /// @brief Number of tags in use.
  std::size_t tag_count() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// @brief One tag as a reader saw it.
struct published_tag_usage {
  std::string name;  ///< as published: print it through unimem::printable, it may hold anything
  std::uint64_t current_bytes = 0;
  std::uint64_t peak_bytes = 0;
  /// False when every look found the slot's writer inside an update (it may have died there):
  /// the byte counts are then 0 and the name may be incomplete.
  bool consistent = true;
};

/// @brief One publishing process as a reader saw it.
struct process_usage {
  int pid = 0;
  std::string label;  ///< as published: print it through unimem::printable, it may hold anything
  std::string path;  ///< the file read, e.g. "/dev/shm/unimem.4242"
  bool alive = true; ///< false when the publisher's pid no longer exists (it crashed)
  std::vector<published_tag_usage> tags;
};

/// @brief Reads one published object by file path, trusting none of its bytes: opened with
/// O_NOFOLLOW | O_NONBLOCK (no symlinks, no waiting on a FIFO), read with pread() into private
/// copies (a file truncated meanwhile cannot raise SIGBUS), every header field checked before it
/// sizes anything, and at most a few looks at a slot whose writer stays inside an update.
/// @param all_users also read files owned by other users; otherwise only the running (effective)
///                  user's own regular files are read
/// @return std::nullopt when the file is not a complete unimem usage table this reader may read
std::optional<process_usage> read_usage_segment(const std::string& path, bool all_users = false);

/// @brief Reads every "unimem.*" regular file in `directory` with read_usage_segment, sorted by pid.
/// @param include_dead also return tables whose publisher's pid is gone
/// @param all_users    also read other users' tables (unimem-top offers it to root only)
std::vector<process_usage> read_published_usage(const std::string& directory = "/dev/shm", bool include_dead = false,
                                                bool all_users = false);

}  // namespace unimem

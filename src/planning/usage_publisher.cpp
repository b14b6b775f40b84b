// Shared-memory publication of per-tag usage. The layout is documented in docs/planning.md
// ("Usage publication format"); change `version` when changing it.
#include <unimem/planning/usage_publisher.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <signal.h>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/size_math.hpp"
#include "planning/usage_table.hpp"

namespace unimem {
namespace {

using detail::checked_add;
using detail::checked_mul;
using word = std::atomic<std::uint64_t>;
static_assert(word::is_always_lock_free, "cross-process atomics need lock-free 64-bit atomics");
static_assert(sizeof(word) == 8 && alignof(word) == 8, "unexpected std::atomic<uint64_t> layout");

constexpr std::uint64_t format_magic = 0x31554d454d494e55ULL;  // "UNIMEMU1" in little-endian bytes
constexpr std::uint32_t format_version = 1;
constexpr std::size_t name_words = 6;  // 48 bytes: 47 characters and a NUL

struct segment_header {
  word magic;                // written last (release): the rest is valid once it reads format_magic
  std::uint32_t version;     // format_version
  std::uint32_t header_size; // sizeof(segment_header); slots start here
  std::uint32_t slot_size;   // sizeof(usage_slot)
  std::uint32_t slot_count;
  std::int32_t pid;
  std::uint32_t reserved;
  word used_slots;           // slots [0, used_slots) hold tags (release after the name is written)
  char label[64];            // NUL-terminated, written before magic
  char padding[24];
};
static_assert(sizeof(segment_header) == 128, "the published header is 128 bytes");

struct usage_slot {
  word seq;                 // seqlock: odd while a writer is inside
  word name[name_words];    // NUL-padded bytes of the tag name
  word current;
  word peak;
  word updates;             // number of updates, for readers that want a rate
};
static_assert(sizeof(usage_slot) == 80, "a published slot is 80 bytes");
static_assert(std::is_standard_layout_v<segment_header> && std::is_standard_layout_v<usage_slot>,
              "the published structs must be standard-layout");

usage_slot* slots_of(segment_header* h) {
  return reinterpret_cast<usage_slot*>(reinterpret_cast<unsigned char*>(h) + sizeof(segment_header));
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// The seqlock uses release stores for the data and acquire loads for the reader's copy instead of
// fences: a reader that sees any new value then sees the odd sequence too, and ThreadSanitizer
// models it (it does not model std::atomic_thread_fence).
constexpr auto data_store = std::memory_order_release;
constexpr auto data_load = std::memory_order_acquire;

/// Seqlock writer: take the slot by moving seq from even to odd.
std::uint64_t lock_slot(usage_slot& s) {
  std::uint64_t seq = s.seq.load(std::memory_order_relaxed);
  while (true) {
    if ((seq & 1) == 0 && s.seq.compare_exchange_weak(seq, seq + 1, std::memory_order_acquire,
                                                      std::memory_order_relaxed)) {
      return seq;
    }
    if (seq & 1) {
      std::this_thread::yield();
      seq = s.seq.load(std::memory_order_relaxed);
    }
  }
}

void unlock_slot(usage_slot& s, std::uint64_t seq) { s.seq.store(seq + 2, std::memory_order_release); }

bool pid_alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

struct usage_publisher::impl {
  std::string segment;
  segment_header* header = nullptr;
  std::size_t bytes = 0;
  std::size_t capacity = 0;
  std::mutex tag_mutex;
  std::vector<std::string> names;  // local copy for lookups
  std::atomic<std::size_t> count{0};

  usage_slot& slot(std::size_t i) {
    if (i >= count.load(std::memory_order_acquire)) {
      throw std::out_of_range(fmt::format("unimem::usage_publisher: tag index {} is not registered ({} tags); "
                                          "get indices from tag(name)",
                                          i, count.load()));
    }
    return slots_of(header)[i];
  }
};

usage_publisher::usage_publisher(std::string_view label, std::size_t tags, std::string segment)
    : impl_(std::make_unique<impl>()) {
  if (tags == 0 || tags > (1u << 20)) {
    throw std::invalid_argument(fmt::format("unimem::usage_publisher: {} tags; use 1 to 1048576", tags));
  }
  if (segment.empty()) {
    static std::atomic<int> publishers{0};
    const int n = publishers.fetch_add(1);
    segment = n == 0 ? fmt::format("/unimem.{}", ::getpid()) : fmt::format("/unimem.{}.{}", ::getpid(), n);
  }
  if (segment.size() < 2 || segment[0] != '/' || segment.find('/', 1) != std::string::npos || segment.size() > 250 ||
      segment.find('\0') != std::string::npos) {
    throw std::invalid_argument(fmt::format(
        "unimem::usage_publisher: segment '{}' must be '/name' without further slashes or NUL bytes, e.g. "
        "'/unimem.app'",
        printable(segment, 80)));
  }
  impl_->segment = segment;
  impl_->capacity = tags;
  impl_->bytes = sizeof(segment_header) + tags * sizeof(usage_slot);

  // 0644: any user's unimem-top may read it; only this process writes. O_EXCL: never write into an
  // object someone else made under this name (the folder is world-writable, and its owner could
  // change the table under us); a stale one of this user's (a crashed process with the same pid)
  // is removed first, another user's cannot be (sticky folder) and is an error.
  const int flags = O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC;
  int fd = ::shm_open(segment.c_str(), flags, 0644);
  if (fd < 0 && errno == EEXIST) {
    if (::shm_unlink(segment.c_str()) == 0) {
      fd = ::shm_open(segment.c_str(), flags, 0644);
    } else {
      errno = EEXIST;
    }
  }
  if (fd < 0) {
    throw_errno(fmt::format("unimem::usage_publisher: shm_open('{}') (an object of another user with this name "
                            "cannot be replaced: pass another segment name)",
                            segment));
  }
  // Reserve the pages now: on a full /dev/shm a sparse object would raise SIGBUS at the first
  // update instead of failing here.
  const int reserved = ::ftruncate(fd, static_cast<off_t>(impl_->bytes)) != 0
                           ? errno
                           : ::posix_fallocate(fd, 0, static_cast<off_t>(impl_->bytes));
  if (reserved != 0) {
    ::close(fd);
    ::shm_unlink(segment.c_str());
    errno = reserved;
    throw_errno(fmt::format("unimem::usage_publisher: reserving {} B for '{}' (is /dev/shm full?)", impl_->bytes,
                            segment));
  }
  void* p = ::mmap(nullptr, impl_->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    ::shm_unlink(segment.c_str());
    errno = e;
    throw_errno(fmt::format("unimem::usage_publisher: mmap('{}', {} B)", segment, impl_->bytes));
  }
  // The object is new, so every byte is 0; construct the atomics in place.
  auto* h = new (p) segment_header{};
  for (std::size_t i = 0; i < tags; ++i) new (&slots_of(h)[i]) usage_slot{};
  h->version = format_version;
  h->header_size = sizeof(segment_header);
  h->slot_size = sizeof(usage_slot);
  h->slot_count = static_cast<std::uint32_t>(tags);
  h->pid = static_cast<std::int32_t>(::getpid());
  const std::size_t n = std::min(label.size(), max_label_length);
  std::memcpy(h->label, label.data(), n);
  h->label[n] = '\0';
  h->magic.store(format_magic, std::memory_order_release);
  impl_->header = h;
}

usage_publisher::~usage_publisher() {
  if (impl_ && impl_->header != nullptr) {
    impl_->header->magic.store(0, std::memory_order_release);
    ::munmap(impl_->header, impl_->bytes);
    ::shm_unlink(impl_->segment.c_str());
  }
}

std::size_t usage_publisher::tag(std::string_view name) {
  if (name.empty() || name.size() > max_tag_length || name.find('\0') != std::string_view::npos) {
    throw std::invalid_argument(fmt::format(
        "unimem::usage_publisher::tag('{}'): a tag is 1 to {} bytes without NUL", printable(name, 60), max_tag_length));
  }
  std::lock_guard<std::mutex> lock(impl_->tag_mutex);
  for (std::size_t i = 0; i < impl_->names.size(); ++i) {
    if (impl_->names[i] == name) return i;
  }
  const std::size_t i = impl_->names.size();
  if (i >= impl_->capacity) {
    throw std::length_error(fmt::format("unimem::usage_publisher::tag('{}'): all {} tags are in use; create the "
                                        "publisher with more tags",
                                        printable(name, 60), impl_->capacity));
  }
  usage_slot& s = slots_of(impl_->header)[i];
  std::uint64_t words[name_words] = {};
  std::memcpy(words, name.data(), name.size());
  const std::uint64_t seq = lock_slot(s);
  for (std::size_t w = 0; w < name_words; ++w) s.name[w].store(words[w], data_store);
  s.current.store(0, data_store);
  s.peak.store(0, data_store);
  unlock_slot(s, seq);
  impl_->names.emplace_back(name);
  impl_->count.store(i + 1, std::memory_order_release);
  impl_->header->used_slots.store(i + 1, std::memory_order_release);
  return i;
}

void usage_publisher::set(std::size_t tag, std::uint64_t current_bytes) {
  usage_slot& s = impl_->slot(tag);
  const std::uint64_t seq = lock_slot(s);
  s.current.store(current_bytes, data_store);
  if (current_bytes > s.peak.load(std::memory_order_relaxed)) s.peak.store(current_bytes, data_store);
  s.updates.store(s.updates.load(std::memory_order_relaxed) + 1, data_store);
  unlock_slot(s, seq);
}

void usage_publisher::set(std::size_t tag, std::uint64_t current_bytes, std::uint64_t peak_bytes) {
  usage_slot& s = impl_->slot(tag);
  const std::uint64_t seq = lock_slot(s);
  s.current.store(current_bytes, data_store);
  s.peak.store(std::max(current_bytes, peak_bytes), data_store);
  s.updates.store(s.updates.load(std::memory_order_relaxed) + 1, data_store);
  unlock_slot(s, seq);
}

void usage_publisher::add(std::size_t tag, std::int64_t delta_bytes) {
  usage_slot& s = impl_->slot(tag);
  const std::uint64_t seq = lock_slot(s);
  std::uint64_t current = s.current.load(std::memory_order_relaxed);
  if (delta_bytes >= 0) {
    const auto d = static_cast<std::uint64_t>(delta_bytes);
    current = current > ~std::uint64_t{0} - d ? ~std::uint64_t{0} : current + d;
  } else {
    const std::uint64_t d = static_cast<std::uint64_t>(-(delta_bytes + 1)) + 1;  // no overflow at INT64_MIN
    current = current < d ? 0 : current - d;
  }
  s.current.store(current, data_store);
  if (current > s.peak.load(std::memory_order_relaxed)) s.peak.store(current, data_store);
  s.updates.store(s.updates.load(std::memory_order_relaxed) + 1, data_store);
  unlock_slot(s, seq);
}

const std::string& usage_publisher::segment() const noexcept { return impl_->segment; }
std::size_t usage_publisher::tag_count() const noexcept { return impl_->count.load(std::memory_order_acquire); }

namespace {

// A reader trusts nothing in a table: another process (any process of the owner, or of any user
// when root reads every user's tables) may write any byte at any time, truncate the file, or stop
// a writer halfway. Tables are read with pread() into private copies, never mapped (a file
// truncated under a mapping raises SIGBUS), every header field is checked before it sizes
// anything, and a slot whose sequence stays odd is given up on after a few tries.
constexpr std::size_t max_header_bytes = 4096;
constexpr std::size_t max_slot_bytes = 4096;
constexpr std::size_t max_slots = std::size_t{1} << 20;
constexpr int tries_per_slot = 4;      // a live writer holds a slot for a few stores
constexpr int retries_per_table = 64;  // then every further busy slot gets one look

bool read_exactly(int fd, void* dst, std::size_t bytes, std::size_t offset) {
  auto* out = static_cast<unsigned char*>(dst);
  while (bytes > 0) {
    const ssize_t got = ::pread(fd, out, bytes, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;  // an error, or the file is shorter than its header says now
    out += got;
    offset += static_cast<std::size_t>(got);
    bytes -= static_cast<std::size_t>(got);
  }
  return true;
}

/// The plain bytes of a slot: its atomics' object representation.
struct slot_copy {
  std::uint64_t seq;
  char name[name_words * 8];
  std::uint64_t current;
  std::uint64_t peak;
  std::uint64_t updates;
};
static_assert(sizeof(slot_copy) == sizeof(usage_slot), "a slot copy has the slot's layout");
static_assert(offsetof(slot_copy, current) == offsetof(usage_slot, current), "same offsets");

enum class slot_read { ok, busy, gone };

/// Seqlock read through the file: the sequence, the slot, the sequence again, each its own read
/// (fences keep the middle read between the two others, as acquire loads would on a mapping).
slot_read read_slot(int fd, std::size_t offset, slot_copy& out) {
  std::uint64_t before = 0, after = 0;
  if (!read_exactly(fd, &before, sizeof before, offset)) return slot_read::gone;
  if (before & 1) return slot_read::busy;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!read_exactly(fd, &out, sizeof out, offset)) return slot_read::gone;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!read_exactly(fd, &after, sizeof after, offset)) return slot_read::gone;
  return before == after && out.seq == before ? slot_read::ok : slot_read::busy;
}

std::string name_of(const slot_copy& c) { return std::string(c.name, ::strnlen(c.name, sizeof c.name)); }

/// Whether this reader may read the file: a regular file owned by the running user, or by anyone
/// when `all_users`.
bool acceptable(const struct stat& st, bool all_users) {
  return S_ISREG(st.st_mode) && (all_users || st.st_uid == ::geteuid());
}

}  // namespace

namespace detail {

std::optional<process_usage> read_usage_table(int fd, const std::string& path, bool all_users) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !acceptable(st, all_users) || st.st_size < 0) return std::nullopt;
  const auto size = static_cast<std::size_t>(st.st_size);
  unsigned char raw[sizeof(segment_header)];  // the header's bytes, read once; fields copied out
  if (size < sizeof raw || !read_exactly(fd, raw, sizeof raw, 0)) return std::nullopt;
  std::uint64_t magic = 0, used_slots = 0;
  std::uint32_t version = 0, header_size = 0, slot_size = 0, slot_count = 0;
  std::int32_t pid = 0;
  std::memcpy(&magic, raw + offsetof(segment_header, magic), sizeof magic);
  std::memcpy(&version, raw + offsetof(segment_header, version), sizeof version);
  std::memcpy(&header_size, raw + offsetof(segment_header, header_size), sizeof header_size);
  std::memcpy(&slot_size, raw + offsetof(segment_header, slot_size), sizeof slot_size);
  std::memcpy(&slot_count, raw + offsetof(segment_header, slot_count), sizeof slot_count);
  std::memcpy(&pid, raw + offsetof(segment_header, pid), sizeof pid);
  std::memcpy(&used_slots, raw + offsetof(segment_header, used_slots), sizeof used_slots);
  std::size_t slots_bytes = 0, table_bytes = 0;
  if (magic != format_magic || version != format_version || header_size < sizeof(segment_header) ||
      header_size > max_header_bytes || slot_size < sizeof(usage_slot) || slot_size > max_slot_bytes ||
      slot_count > max_slots || !checked_mul(slot_count, slot_size, slots_bytes) ||
      !checked_add(header_size, slots_bytes, table_bytes) || size < table_bytes) {
    return std::nullopt;
  }
  process_usage u;
  u.pid = pid;
  u.path = path;
  const char* label = reinterpret_cast<const char*>(raw + offsetof(segment_header, label));
  u.label.assign(label, ::strnlen(label, sizeof(segment_header::label)));
  u.alive = pid_alive(u.pid);
  const std::size_t used = static_cast<std::size_t>(std::min<std::uint64_t>(used_slots, slot_count));
  int retries_left = retries_per_table;
  for (std::size_t i = 0; i < used; ++i) {
    const std::size_t offset = header_size + i * std::size_t{slot_size};  // <= table_bytes: checked above
    slot_copy c{};
    slot_read r = slot_read::busy;
    for (int attempt = 0; attempt < tries_per_slot; ++attempt) {
      r = read_slot(fd, offset, c);
      if (r != slot_read::busy) break;
      if (retries_left == 0) break;
      --retries_left;
      std::this_thread::yield();
    }
    if (r == slot_read::gone) break;  // truncated while read: what was read is the table
    if (r == slot_read::ok) {
      u.tags.push_back({name_of(c), c.current, c.peak, true});
    } else {
      // Its writer stays inside an update (it may have died there): no numbers, the name as it
      // reads now (names are written once, when the tag is made).
      if (!read_exactly(fd, &c, sizeof c, offset)) break;
      u.tags.push_back({name_of(c), 0, 0, false});
    }
  }
  return u;
}

}  // namespace detail

std::optional<process_usage> read_usage_segment(const std::string& path, bool all_users) {
  if (path.find('\0') != std::string::npos) return std::nullopt;
  // O_NOFOLLOW: not through a link someone else planted; O_NONBLOCK: a FIFO does not block open().
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  return detail::read_usage_table(fd, path, all_users);
}

std::vector<process_usage> read_published_usage(const std::string& directory, bool include_dead, bool all_users) {
  std::vector<process_usage> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("unimem.", 0) != 0) continue;
    // Only regular files are opened at all (a device node could have side effects on open); the
    // reader checks the opened file again, since the name may have been replaced meanwhile.
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
    auto u = read_usage_segment(it->path().string(), all_users);
    if (u && (u->alive || include_dead)) out.push_back(std::move(*u));
  }
  std::sort(out.begin(), out.end(), [](const process_usage& a, const process_usage& b) {
    return a.pid != b.pid ? a.pid < b.pid : a.path < b.path;
  });
  return out;
}

}  // namespace unimem

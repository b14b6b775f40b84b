// The shared-memory frame ring: layout, attach protocol, liveness locks and futex wake-ups.
// One file on purpose (about 800 lines): every function here reads or writes the same shared
// header under the same protocol, whose invariants (who may write which index, when a peer is
// dead, what is re-validated after every read) are easier to check in one place than across files.
#include <unimem/zero_copy/frame_ring.hpp>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/zero_copy/unique_fd.hpp>

#include "detail/size_math.hpp"

namespace unimem {
namespace detail {
namespace {

constexpr std::uint64_t ring_magic = 0x474e495246554e55ULL;  // "UNUFRING" little-endian
constexpr std::uint32_t ring_version = 1;
constexpr std::uint32_t max_slots = 65536;

enum end_state : std::uint32_t { end_never = 0, end_attached = 1, end_closed = 2 };

// Written by the producer before it publishes the slot's frame; read by the consumer after it
// acquires the index. Plain fields: the index's release/acquire orders them.
struct slot_meta {
  std::uint64_t bytes;
  std::uint64_t timestamp_ns;
  std::uint64_t sequence;
  std::uint64_t reserved;
};

// The first page(s) of the object. Producer-written and consumer-written fields sit on separate
// cache lines so the two ends do not bounce one line between cores on every frame.
struct ring_header {
  std::atomic<std::uint64_t> magic;  // stored last, with release, by the creator
  std::uint32_t version;
  std::uint32_t page_size;
  std::uint64_t slot_bytes;
  std::uint64_t slot_stride;
  std::uint64_t data_offset;
  std::uint64_t total_bytes;
  std::uint32_t slot_count;
  std::uint32_t reserved0;

  alignas(64) std::atomic<std::uint64_t> write_index;  // frames published
  std::atomic<std::uint64_t> dropped;                  // frames that found the ring full
  std::atomic<std::uint64_t> producer_generation;      // +1 each time a producer attaches
  std::atomic<std::uint32_t> producer_state;           // end_state
  std::atomic<std::uint32_t> data_seq;                 // futex word the consumer sleeps on
  std::atomic<std::uint32_t> data_waiters;

  alignas(64) std::atomic<std::uint64_t> read_index;  // frames released
  std::atomic<std::uint32_t> consumer_state;          // end_state
  std::atomic<std::uint32_t> space_seq;               // futex word the producer sleeps on
  std::atomic<std::uint32_t> space_waiters;
};

// Atomics in memory shared between processes are only meaningful when they are lock-free (a
// lock-based atomic would guard itself with a lock private to each process).
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the ring needs lock-free 64-bit atomics");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "the ring needs lock-free 32-bit atomics");
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "a futex word is 32 bits");
static_assert(std::is_standard_layout_v<ring_header>, "the header is shared between processes");
static_assert(sizeof(slot_meta) == 32);

std::uint32_t* futex_word(std::atomic<std::uint32_t>& a) noexcept {
  return reinterpret_cast<std::uint32_t*>(&a);
}

// Sleeps while *word == expected, at most `timeout`. Not FUTEX_PRIVATE: the word is shared
// between processes. Returns true when the wait timed out.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept {
  const auto ns = std::max<std::int64_t>(timeout.count(), 0);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  const long rc = ::syscall(SYS_futex, futex_word(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
  return rc != 0 && errno == ETIMEDOUT;
}

void futex_wake(std::atomic<std::uint32_t>& word) noexcept {
  ::syscall(SYS_futex, futex_word(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// Bumps the word and wakes a sleeper if there is one. The seq_cst pair (bump, then read waiters)
// against the sleeper's (count itself, then read the word) means a sleeper either sees the bump
// before it sleeps or is counted and woken.
void signal(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiters, bool always = false) noexcept {
  seq.fetch_add(1, std::memory_order_seq_cst);
  if (always || waiters.load(std::memory_order_seq_cst) != 0) futex_wake(seq);
}

std::size_t page_size() noexcept { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

struct geometry {
  std::size_t slot_stride = 0;
  std::size_t data_offset = 0;
  std::size_t total = 0;
};

// Slots start on page boundaries so each is suitably aligned for any kernel access and the slot
// area can be registered with CUDA as whole pages.
bool compute_geometry(std::size_t slot_bytes, std::uint32_t slot_count, std::size_t page, geometry& g) noexcept {
  // The page size is a power of two.
  if (!detail::checked_align_up(slot_bytes, page, g.slot_stride)) return false;
  const std::size_t header = sizeof(ring_header) + std::size_t{slot_count} * sizeof(slot_meta);
  if (!detail::checked_align_up(header, page, g.data_offset)) return false;
  std::size_t slots = 0;
  if (!detail::checked_mul(g.slot_stride, slot_count, slots) || !detail::checked_add(g.data_offset, slots, g.total)) {
    return false;
  }
  // off_t is signed; ftruncate cannot take more.
  return g.total <= static_cast<std::size_t>(INT64_MAX);
}

void check_name(const char* who, const std::string& name) {
  // Control characters (NUL above all: shm_open would stop there and open another name) are
  // refused, so the name can be quoted in every later message as it is.
  const bool control = std::any_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  const bool ok = name.size() >= 2 && name.size() <= 255 && name[0] == '/' &&
                  name.find('/', 1) == std::string::npos && !control;
  if (!ok) {
    throw std::invalid_argument(fmt::format(
        "{}(\"{}\"): a ring name is \"/\" followed by 1-254 characters without another \"/\" or a control "
        "character, e.g. \"/camera0\"",
        who, printable(name, 80)));
  }
}

std::string owner_note(const std::string& name) {
  struct stat st {};
  const std::string path = "/dev/shm" + name;
  if (::stat(path.c_str(), &st) != 0) return {};
  return fmt::format("owner uid {}, mode {:04o}, {} B; this process runs as uid {}", st.st_uid, st.st_mode & 07777,
                     st.st_size, ::geteuid());
}

// Open-file-description locks: owned by this end's open of the object, dropped by the kernel
// when the process dies (its descriptors close), unaffected by other threads.
bool lock_byte(int fd, off_t byte, short type) noexcept {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  return ::fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

bool byte_locked_elsewhere(int fd, off_t byte) noexcept {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  if (::fcntl(fd, F_OFD_GETLK, &fl) != 0) return true;  // cannot tell: assume alive, never misreport a death
  return fl.l_type != F_UNLCK;
}

}  // namespace

class shm_ring {
 public:
  enum class role { producer, consumer };

  shm_ring(role r, const std::string& name, std::size_t slot_bytes, std::uint32_t slot_count,
           const frame_ring_options& options)
      : role_(r), name_(name), options_(options) {
    const char* who = r == role::producer ? "unimem::frame_ring_producer" : "unimem::frame_ring_consumer";
    check_name(who, name);
    if ((options.permissions & ~0777u) != 0) {
      throw std::invalid_argument(fmt::format("{}(\"{}\"): permissions {:o} has bits beyond 0777", who, name,
                                              options.permissions));
    }
    if (options.liveness_interval.count() <= 0) {
      throw std::invalid_argument(fmt::format("{}(\"{}\"): liveness_interval must be positive", who, name));
    }
    if (slot_count > max_slots) {
      throw std::invalid_argument(
          fmt::format("{}(\"{}\", {} B, {} slots): at most {} slots", who, name, slot_bytes, slot_count, max_slots));
    }
    try {
      bool attached = false;
      if (options.open != ring_open::attach) {
        if (slot_bytes == 0 || slot_count == 0) {
          throw std::invalid_argument(fmt::format(
              "{}(\"{}\", {} B, {} slots): creating a ring needs a non-zero slot size and slot count", who, name,
              slot_bytes, slot_count));
        }
        attached = !create(who, slot_bytes, slot_count);
      } else {
        attached = true;
      }
      if (attached) attach(who, slot_bytes, slot_count);
      take_role(who);
    } catch (...) {
      cleanup_after_failure();
      throw;
    }
  }

  ~shm_ring() {
    close();
    region_.reset();  // unregister before unmapping
    if (base_ != nullptr) ::munmap(base_, total_);
  }

  shm_ring(const shm_ring&) = delete;
  shm_ring& operator=(const shm_ring&) = delete;

  void close() noexcept {
    if (closed_ || header_ == nullptr) return;
    closed_ = true;
    if (role_ == role::producer) {
      header_->producer_state.store(end_closed, std::memory_order_seq_cst);
      signal(header_->data_seq, header_->data_waiters, true);
    } else {
      header_->consumer_state.store(end_closed, std::memory_order_seq_cst);
      signal(header_->space_seq, header_->space_waiters, true);
    }
    // Unlock explicitly: a child forked without exec shares this open file description and would
    // otherwise keep the lock, and the end, alive.
    lock_byte(fd_.get(), own_byte(), F_UNLCK);
    if (created_ && options_.unlink_on_close) unlink_if_ours();
  }

  ring_header& header() const noexcept { return *header_; }
  // Geometry comes from this end's private copy, validated once: the peer can rewrite the shared
  // header at any time, and nothing it writes there may become an index, a divisor or an offset.
  std::byte* slot_data(std::uint32_t index) const noexcept {
    return base_ + data_offset_ + std::size_t{index % slot_count_} * slot_stride_;
  }
  slot_meta& meta(std::uint32_t index) const noexcept {
    return reinterpret_cast<slot_meta*>(reinterpret_cast<std::byte*>(header_) + sizeof(ring_header))[index % slot_count_];
  }
  bool peer_alive() const noexcept { return byte_locked_elsewhere(fd_.get(), peer_byte()); }

  void register_with_cuda(const register_options& options, const device_profile& profile) {
    if (region_) return;
    region_.emplace(base_ + data_offset_, std::size_t{slot_count_} * slot_stride_, options, profile);
  }
  bool registered() const noexcept { return region_.has_value(); }
  void* device_data(std::uint32_t index) const noexcept {
    if (!region_) return nullptr;
    return static_cast<std::byte*>(region_->device_pointer()) + std::size_t{index % slot_count_} * slot_stride_;
  }

  const std::string& name() const noexcept { return name_; }
  bool is_closed() const noexcept { return closed_; }
  std::size_t slot_bytes() const noexcept { return slot_bytes_; }
  std::uint32_t slot_count() const noexcept { return slot_count_; }
  bool created() const noexcept { return created_; }
  const frame_ring_options& options() const noexcept { return options_; }

 private:
  off_t own_byte() const noexcept { return role_ == role::producer ? 0 : 1; }
  off_t peer_byte() const noexcept { return role_ == role::producer ? 1 : 0; }

  // Returns false when the name exists and the options allow attaching to it instead.
  bool create(const char* who, std::size_t slot_bytes, std::uint32_t slot_count) {
    geometry g;
    const std::size_t page = page_size();
    if (!compute_geometry(slot_bytes, slot_count, page, g)) {
      throw std::invalid_argument(fmt::format("{}(\"{}\", {} B, {} slots): the ring's size overflows", who, name_,
                                              slot_bytes, slot_count));
    }
    const int fd = ::shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, options_.permissions);
    if (fd < 0) {
      const int err = errno;
      if (err == EEXIST && options_.open == ring_open::create_or_attach) return false;
      if (err == EEXIST) {
        throw std::system_error(
            err, std::generic_category(),
            fmt::format("{}(\"{}\"): a shared-memory object with this name exists already ({}); to join it pass "
                        "frame_ring_options::open = ring_open::attach, or if a crashed run left it behind remove "
                        "it with unimem::remove_frame_ring(\"{}\")",
                        who, name_, owner_note(name_), name_));
      }
      throw std::system_error(err, std::generic_category(),
                              fmt::format("{}(\"{}\"): shm_open(O_CREAT) failed", who, name_));
    }
    fd_.reset(fd);
    created_ = true;
    // shm_open applies the umask; the caller's permissions are the contract.
    if (::fchmod(fd, static_cast<mode_t>(options_.permissions)) != 0 || ::ftruncate(fd, static_cast<off_t>(g.total)) != 0) {
      const int err = errno;
      throw std::system_error(err, std::generic_category(),
                              fmt::format("{}(\"{}\", {} B): sizing the shared-memory object failed{}", who, name_,
                                          g.total, err == ENOSPC || err == ENOMEM ? " (is /dev/shm full?)" : ""));
    }
    // Reserve the pages now: on a full /dev/shm a sparse object would raise SIGBUS at the first
    // frame instead of failing here.
    if (const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(g.total)); err != 0) {
      throw std::system_error(err, std::generic_category(),
                              fmt::format("{}(\"{}\", {} B): reserving the shared memory failed{}", who, name_,
                                          g.total, err == ENOSPC ? " (is /dev/shm full?)" : ""));
    }
    map(who, g.total);
    auto* h = new (base_) ring_header{};
    h->version = ring_version;
    h->page_size = static_cast<std::uint32_t>(page);
    h->slot_bytes = slot_bytes;
    h->slot_stride = g.slot_stride;
    h->data_offset = g.data_offset;
    h->total_bytes = g.total;
    h->slot_count = slot_count;
    header_ = h;
    keep_geometry(slot_bytes, slot_count, g);
    // Everything above becomes visible to an attaching process no later than the magic.
    h->magic.store(ring_magic, std::memory_order_release);
    return true;
  }

  void attach(const char* who, std::size_t slot_bytes, std::uint32_t slot_count) {
    const int fd = ::shm_open(name_.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
      const int err = errno;
      if (err == ENOENT) {
        throw std::system_error(err, std::generic_category(),
                                fmt::format("{}(\"{}\"): no ring with this name; start the end that creates it "
                                            "first, or pass ring_open::create_or_attach",
                                            who, name_));
      }
      if (err == EACCES) {
        throw std::system_error(err, std::generic_category(),
                                fmt::format("{}(\"{}\"): permission denied ({}); run both ends as the same user, or "
                                            "create the ring with permissions 0660 and a shared group",
                                            who, name_, owner_note(name_)));
      }
      throw std::system_error(err, std::generic_category(), fmt::format("{}(\"{}\"): shm_open failed", who, name_));
    }
    fd_.reset(fd);

    // The creator sizes the object, then fills the header, then stores the magic: wait (bounded)
    // for a ring being created rather than misreading it.
    const auto deadline = std::chrono::steady_clock::now() + options_.attach_timeout;
    struct stat st {};
    for (;;) {
      if (::fstat(fd, &st) != 0) {
        throw std::system_error(errno, std::generic_category(), fmt::format("{}(\"{}\"): fstat", who, name_));
      }
      if (static_cast<std::size_t>(st.st_size) >= sizeof(ring_header)) {
        if (base_ == nullptr) map(who, static_cast<std::size_t>(st.st_size));
        if (reinterpret_cast<ring_header*>(base_)->magic.load(std::memory_order_acquire) == ring_magic) break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::invalid_argument(fmt::format(
            "{}(\"{}\"): the shared-memory object ({} B) is not a unimem frame ring (no ring header after {} ms); "
            "remove it with unimem::remove_frame_ring(\"{}\") if it is stale, or pick another name",
            who, name_, st.st_size, options_.attach_timeout.count(), name_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    header_ = reinterpret_cast<ring_header*>(base_);
    // One copy of the geometry fields, validated and kept: the shared header is read only here.
    struct {
      std::uint32_t version, page_size;
      std::uint64_t slot_bytes, slot_stride, data_offset, total_bytes;
      std::uint32_t slot_count;
    } h{};
    const auto* shared = reinterpret_cast<const unsigned char*>(base_);
    std::memcpy(&h.version, shared + offsetof(ring_header, version), sizeof h.version);
    std::memcpy(&h.page_size, shared + offsetof(ring_header, page_size), sizeof h.page_size);
    std::memcpy(&h.slot_bytes, shared + offsetof(ring_header, slot_bytes), sizeof h.slot_bytes);
    std::memcpy(&h.slot_stride, shared + offsetof(ring_header, slot_stride), sizeof h.slot_stride);
    std::memcpy(&h.data_offset, shared + offsetof(ring_header, data_offset), sizeof h.data_offset);
    std::memcpy(&h.total_bytes, shared + offsetof(ring_header, total_bytes), sizeof h.total_bytes);
    std::memcpy(&h.slot_count, shared + offsetof(ring_header, slot_count), sizeof h.slot_count);
    if (h.version != ring_version) {
      throw std::invalid_argument(fmt::format("{}(\"{}\"): the ring has layout version {}, this unimem speaks {}; "
                                              "build both ends against the same unimem",
                                              who, name_, h.version, ring_version));
    }
    geometry g;
    if (h.slot_count == 0 || h.slot_count > max_slots || h.page_size != page_size() ||
        !compute_geometry(h.slot_bytes, h.slot_count, h.page_size, g) || g.slot_stride != h.slot_stride ||
        g.data_offset != h.data_offset || g.total != h.total_bytes || g.total != total_) {
      throw std::invalid_argument(fmt::format(
          "{}(\"{}\"): the ring header is inconsistent with the object's size ({} B); it is damaged or not a frame "
          "ring; remove it with unimem::remove_frame_ring(\"{}\")",
          who, name_, total_, name_));
    }
    if ((slot_bytes != 0 && slot_bytes != h.slot_bytes) || (slot_count != 0 && slot_count != h.slot_count)) {
      throw std::invalid_argument(fmt::format(
          "{}(\"{}\", {} B, {} slots): the existing ring has {} slots of {} B; ask for that, or pass 0 and 0 to "
          "accept the ring's geometry",
          who, name_, slot_bytes, slot_count, h.slot_count, h.slot_bytes));
    }
    keep_geometry(static_cast<std::size_t>(h.slot_bytes), h.slot_count, g);
  }

  void keep_geometry(std::size_t slot_bytes, std::uint32_t slot_count, const geometry& g) noexcept {
    slot_bytes_ = slot_bytes;
    slot_count_ = slot_count;
    slot_stride_ = g.slot_stride;
    data_offset_ = g.data_offset;
  }

  void map(const char* who, std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              fmt::format("{}(\"{}\"): mmap of {} B failed", who, name_, bytes));
    }
    base_ = static_cast<std::byte*>(p);
    total_ = bytes;
  }

  void take_role(const char* who) {
    if (!lock_byte(fd_.get(), own_byte(), F_WRLCK)) {
      const int err = errno;
      if (err == EAGAIN || err == EACCES) {
        throw std::system_error(
            std::make_error_code(std::errc::device_or_resource_busy),
            fmt::format("{}(\"{}\"): the ring already has a {} attached; a ring has one producer and one consumer",
                        who, name_, role_ == role::producer ? "producer" : "consumer"));
      }
      throw std::system_error(err, std::generic_category(), fmt::format("{}(\"{}\"): F_OFD_SETLK", who, name_));
    }
    ring_header& h = *header_;
    if (role_ == role::producer) {
      h.producer_generation.fetch_add(1, std::memory_order_seq_cst);
      h.producer_state.store(end_attached, std::memory_order_seq_cst);
      signal(h.data_seq, h.data_waiters, true);
    } else {
      h.consumer_state.store(end_attached, std::memory_order_seq_cst);
      signal(h.space_seq, h.space_waiters, true);
    }
  }

  void unlink_if_ours() noexcept {
    // Someone may have removed the name and created a new ring under it; only remove our own.
    struct stat mine {}, named {};
    const int fd = ::shm_open(name_.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return;
    const bool same = ::fstat(fd_.get(), &mine) == 0 && ::fstat(fd, &named) == 0 && mine.st_ino == named.st_ino &&
                      mine.st_dev == named.st_dev;
    ::close(fd);
    if (same) ::shm_unlink(name_.c_str());
  }

  void cleanup_after_failure() noexcept {
    if (base_ != nullptr) {
      ::munmap(base_, total_);
      base_ = nullptr;
    }
    header_ = nullptr;
    if (created_) ::shm_unlink(name_.c_str());
    fd_.reset();
  }

  role role_;
  std::string name_;
  frame_ring_options options_;
  unique_fd fd_;
  std::byte* base_ = nullptr;
  std::size_t total_ = 0;
  ring_header* header_ = nullptr;
  bool created_ = false;
  bool closed_ = false;
  std::optional<registered_region> region_;
  // This end's copy of the geometry (see slot_data).
  std::size_t slot_bytes_ = 0;
  std::uint32_t slot_count_ = 1;
  std::size_t slot_stride_ = 0;
  std::size_t data_offset_ = 0;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------

std::string_view to_string(ring_status status) noexcept {
  switch (status) {
    case ring_status::ok: return "ok";
    case ring_status::timeout: return "timeout";
    case ring_status::end_of_stream: return "end_of_stream";
    case ring_status::producer_lost: return "producer_lost";
    case ring_status::consumer_gone: return "consumer_gone";
  }
  return "?";
}

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool remove_frame_ring(const std::string& name) {
  detail::check_name("unimem::remove_frame_ring", name);
  if (::shm_unlink(name.c_str()) == 0) return true;
  const int err = errno;
  if (err == ENOENT) return false;
  throw std::system_error(err, std::generic_category(),
                          fmt::format("unimem::remove_frame_ring(\"{}\"): shm_unlink failed", name));
}

namespace {

using steady = std::chrono::steady_clock;

// A deadline that does not overflow for "wait forever" timeouts.
steady::time_point deadline_after(std::chrono::nanoseconds timeout) {
  constexpr auto year = std::chrono::hours(24 * 365);
  return steady::now() + std::min<std::chrono::nanoseconds>(std::max<std::chrono::nanoseconds>(timeout, {}), year);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// producer

frame_ring_producer::frame_ring_producer(const std::string& name, std::size_t slot_bytes, std::uint32_t slot_count,
                                         const frame_ring_options& options)
    : ring_(std::make_unique<detail::shm_ring>(detail::shm_ring::role::producer, name, slot_bytes, slot_count,
                                               options)) {}

frame_ring_producer::~frame_ring_producer() = default;
frame_ring_producer::frame_ring_producer(frame_ring_producer&& other) noexcept
    : ring_(std::move(other.ring_)), begun_(std::exchange(other.begun_, false)) {}
frame_ring_producer& frame_ring_producer::operator=(frame_ring_producer&& other) noexcept {
  if (this != &other) {
    ring_ = std::move(other.ring_);
    begun_ = std::exchange(other.begun_, false);
  }
  return *this;
}

namespace {

/// Frames published and not yet handed back. read_index is the consumer's to write: one that
/// claims more frames back than were published (a broken or hostile peer) counts as having
/// handed back everything, so the producer never sees a ring that stays full.
std::uint64_t in_flight(const detail::ring_header& h, std::uint64_t w) noexcept {
  const std::uint64_t r = h.read_index.load(std::memory_order_acquire);
  return r > w ? 0 : w - r;
}

// The slot at write_index if the consumer has handed it back.
bool claim_slot(detail::shm_ring& ring, frame_ring_producer::slot& out) noexcept {
  auto& h = ring.header();
  // Only the producer writes write_index, so its own value needs no ordering; read_index is
  // acquired so the consumer's last reads of the slot happen before it is overwritten.
  const std::uint64_t w = h.write_index.load(std::memory_order_relaxed);
  if (in_flight(h, w) >= ring.slot_count()) return false;
  const auto index = static_cast<std::uint32_t>(w % ring.slot_count());
  out.data = ring.slot_data(index);
  out.capacity = ring.slot_bytes();
  out.sequence = w;
  out.index = index;
  return true;
}

void check_open(const detail::shm_ring& ring, const char* call) {
  if (ring.is_closed()) {
    throw std::logic_error(fmt::format("unimem::frame_ring_producer::{}(\"{}\"): the producer was closed (end of "
                                       "stream); open a new frame_ring_producer with ring_open::attach to continue",
                                       call, ring.name()));
  }
}

}  // namespace

bool frame_ring_producer::try_begin_frame(slot& out) {
  check_open(*ring_, "try_begin_frame");
  if (claim_slot(*ring_, out)) {
    begun_ = true;
    return true;
  }
  ring_->header().dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

ring_status frame_ring_producer::begin_frame(slot& out, std::chrono::nanoseconds timeout) {
  check_open(*ring_, "begin_frame");
  auto& h = ring_->header();
  const auto deadline = deadline_after(timeout);
  for (;;) {
    if (claim_slot(*ring_, out)) {
      begun_ = true;
      return ring_status::ok;
    }
    // Full: only a consumer can make room, so without one there is nothing to wait for.
    if (!ring_->peer_alive()) return ring_status::consumer_gone;
    const auto now = steady::now();
    if (now >= deadline) return ring_status::timeout;
    const auto slice = std::min<std::chrono::nanoseconds>(deadline - now, ring_->options().liveness_interval);
    h.space_waiters.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t seq = h.space_seq.load(std::memory_order_seq_cst);
    const std::uint64_t w = h.write_index.load(std::memory_order_relaxed);
    if (in_flight(h, w) >= ring_->slot_count()) detail::futex_wait(h.space_seq, seq, slice);
    h.space_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void frame_ring_producer::publish(std::size_t bytes, std::uint64_t timestamp_ns) {
  check_open(*ring_, "publish");
  if (!begun_) {
    throw std::logic_error(fmt::format(
        "unimem::frame_ring_producer::publish(\"{}\", {} B): no frame was begun; call try_begin_frame or "
        "begin_frame first",
        ring_->name(), bytes));
  }
  auto& h = ring_->header();
  if (bytes > ring_->slot_bytes()) {
    throw std::invalid_argument(fmt::format(
        "unimem::frame_ring_producer::publish(\"{}\", {} B): a slot holds {} B; the frame was cut short or the "
        "ring was made for smaller frames",
        ring_->name(), bytes, ring_->slot_bytes()));
  }
  const std::uint64_t w = h.write_index.load(std::memory_order_relaxed);
  detail::slot_meta& m = ring_->meta(static_cast<std::uint32_t>(w % ring_->slot_count()));
  m.bytes = bytes;
  m.timestamp_ns = timestamp_ns;
  m.sequence = w;
  // Release: the frame's bytes and its meta are visible to whoever acquires the new index.
  h.write_index.store(w + 1, std::memory_order_release);
  begun_ = false;
  detail::signal(h.data_seq, h.data_waiters);
}

void frame_ring_producer::close() noexcept {
  if (ring_) ring_->close();
}

const std::string& frame_ring_producer::name() const noexcept { return ring_->name(); }
std::size_t frame_ring_producer::slot_bytes() const noexcept { return ring_->slot_bytes(); }
std::uint32_t frame_ring_producer::slot_count() const noexcept { return ring_->slot_count(); }
bool frame_ring_producer::consumer_attached() const { return ring_->peer_alive(); }
std::uint64_t frame_ring_producer::dropped_frames() const noexcept {
  return ring_->header().dropped.load(std::memory_order_relaxed);
}
bool frame_ring_producer::created() const noexcept { return ring_->created(); }

// ---------------------------------------------------------------------------------------------
// consumer

frame_ring_consumer::frame_ring_consumer(const std::string& name, std::size_t slot_bytes, std::uint32_t slot_count,
                                         const frame_ring_options& options)
    : ring_(std::make_unique<detail::shm_ring>(detail::shm_ring::role::consumer, name, slot_bytes, slot_count,
                                               options)) {
  // Resume where the previous consumer (if any) handed frames back, within what is published:
  // a read_index a broken consumer left ahead of write_index, or one so far behind that the frames
  // it names were overwritten, would otherwise wedge the ring for good.
  auto& h = ring_->header();
  const std::uint64_t w = h.write_index.load(std::memory_order_acquire);
  std::uint64_t r = h.read_index.load(std::memory_order_acquire);
  if (r > w) r = w;
  if (w - r > ring_->slot_count()) r = w - ring_->slot_count();
  h.read_index.store(r, std::memory_order_release);
  next_read_ = released_ = r;
  detail::signal(h.space_seq, h.space_waiters);
}

frame_ring_consumer::~frame_ring_consumer() = default;
frame_ring_consumer::frame_ring_consumer(frame_ring_consumer&& other) noexcept
    : ring_(std::move(other.ring_)),
      next_read_(other.next_read_),
      released_(other.released_),
      lost_generation_(other.lost_generation_) {}
frame_ring_consumer& frame_ring_consumer::operator=(frame_ring_consumer&& other) noexcept {
  if (this != &other) {
    ring_ = std::move(other.ring_);
    next_read_ = other.next_read_;
    released_ = other.released_;
    lost_generation_ = other.lost_generation_;
  }
  return *this;
}

void frame_ring_consumer::register_with_cuda(const register_options& options, const device_profile& profile) {
  ring_->register_with_cuda(options, profile);
}
bool frame_ring_consumer::registered() const noexcept { return ring_->registered(); }

ring_status frame_ring_consumer::acquire(frame& out, std::chrono::nanoseconds timeout) {
  auto& h = ring_->header();
  const auto deadline = deadline_after(timeout);
  // Checking the producer's lock costs a system call, so it is done only after a quiet slice
  // (or for a poll), not for every frame.
  bool check_producer = timeout.count() <= 0;
  for (;;) {
    const std::uint32_t state = h.producer_state.load(std::memory_order_acquire);
    const std::uint64_t generation = h.producer_generation.load(std::memory_order_acquire);
    const std::uint64_t w = h.write_index.load(std::memory_order_acquire);
    if (w > next_read_) {
      const auto index = static_cast<std::uint32_t>(next_read_ % slot_count());
      // The meta is the producer's to write: copied once, checked, and only the copy is used.
      const detail::slot_meta m = ring_->meta(index);
      if (m.sequence != next_read_ || m.bytes > slot_bytes() || w - released_ > slot_count()) {
        throw std::runtime_error(fmt::format(
            "unimem::frame_ring_consumer::acquire(\"{}\"): slot {} holds frame {} of {} B where frame {} of at most "
            "{} B was published ({} frames published, {} handed back); something other than one "
            "frame_ring_producer writes this ring — nothing was taken; recreate the ring",
            ring_->name(), index, m.sequence, m.bytes, next_read_, slot_bytes(), w, released_));
      }
      out.data = ring_->slot_data(index);
      out.device_data = ring_->device_data(index);
      out.bytes = static_cast<std::size_t>(m.bytes);
      out.sequence = next_read_;
      out.timestamp_ns = m.timestamp_ns;
      out.index = index;
      ++next_read_;
      return ring_status::ok;
    }
    if (state == detail::end_closed) return ring_status::end_of_stream;
    if (check_producer && state == detail::end_attached && generation != lost_generation_ && !ring_->peer_alive()) {
      // It may have published just before it died: deliver those frames first.
      if (h.write_index.load(std::memory_order_acquire) > next_read_) continue;
      lost_generation_ = generation;
      return ring_status::producer_lost;
    }
    const auto now = steady::now();
    if (now >= deadline) return ring_status::timeout;
    const auto slice = std::min<std::chrono::nanoseconds>(deadline - now, ring_->options().liveness_interval);
    h.data_waiters.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t seq = h.data_seq.load(std::memory_order_seq_cst);
    bool timed_out = false;
    if (h.write_index.load(std::memory_order_acquire) <= next_read_ &&
        h.producer_state.load(std::memory_order_acquire) == state &&
        h.producer_generation.load(std::memory_order_acquire) == generation) {
      timed_out = detail::futex_wait(h.data_seq, seq, slice);
    }
    h.data_waiters.fetch_sub(1, std::memory_order_seq_cst);
    check_producer = timed_out || steady::now() >= deadline;
  }
}

void frame_ring_consumer::release(const frame& f) {
  // A frame that was never taken (e.g. the untouched frame of an acquire that timed out) must not
  // move read_index past write_index: the producer would see the ring full forever.
  const auto index = static_cast<std::uint32_t>(f.sequence % slot_count());
  const char* why = f.sequence >= next_read_                               ? "it was never taken"
                    : f.sequence < released_                               ? "it was released already"
                    : f.sequence != released_                              ? "frames go back in the order they were taken"
                    : f.index != index || f.data != ring_->slot_data(index) ? "it is not a frame of this ring"
                                                                            : nullptr;
  if (why != nullptr) {
    const std::string next = released_ < next_read_ ? fmt::format("the next frame to release is {}", released_)
                                                    : std::string("no frame is taken now");
    throw std::logic_error(fmt::format(
        "unimem::frame_ring_consumer::release(\"{}\", frame {}): {}; {} (release only frames acquire() returned "
        "with ring_status::ok, once each, in order)",
        ring_->name(), f.sequence, why, next));
  }
  auto& h = ring_->header();
  ++released_;
  // Release: this end's reads (and its kernels', which the caller synchronised) happen before the
  // producer reuses the slot.
  h.read_index.store(released_, std::memory_order_release);
  detail::signal(h.space_seq, h.space_waiters);
}

std::uint64_t frame_ring_consumer::skip_pending() {
  if (next_read_ != released_) {
    throw std::logic_error(fmt::format(
        "unimem::frame_ring_consumer::skip_pending(\"{}\"): {} frames are taken and not released; release them "
        "first",
        ring_->name(), next_read_ - released_));
  }
  auto& h = ring_->header();
  // write_index is the producer's: one that went backwards skips nothing.
  const std::uint64_t w = std::max(h.write_index.load(std::memory_order_acquire), next_read_);
  const std::uint64_t skipped = w - next_read_;
  next_read_ = released_ = w;
  h.read_index.store(w, std::memory_order_release);
  detail::signal(h.space_seq, h.space_waiters);
  return skipped;
}

const std::string& frame_ring_consumer::name() const noexcept { return ring_->name(); }
std::size_t frame_ring_consumer::slot_bytes() const noexcept { return ring_->slot_bytes(); }
std::uint32_t frame_ring_consumer::slot_count() const noexcept { return ring_->slot_count(); }
bool frame_ring_consumer::producer_attached() const { return ring_->peer_alive(); }
std::uint64_t frame_ring_consumer::dropped_frames() const noexcept {
  return ring_->header().dropped.load(std::memory_order_relaxed);
}
bool frame_ring_consumer::created() const noexcept { return ring_->created(); }

}  // namespace unimem

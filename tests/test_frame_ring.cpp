// The shared-memory frame ring: transfer and ordering (threads, for TSan), the attach protocol,
// permissions, bad input, a producer or consumer killed mid-stream (fork and SIGKILL) and, on a
// GPU, kernels reading the producer's frames in place through the one registration.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/zero_copy/frame_ring.hpp>

#include "support/device_kernels.hpp"
#include "support/gpu_test.hpp"
#include "support/process_resources.hpp"

namespace unimem {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ctest runs tests in parallel processes: names carry the pid and a counter.
std::string unique_name() {
  static int counter = 0;
  return "/unimem-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

bool shm_exists(const std::string& name) {
  struct stat st {};
  return ::stat(("/dev/shm" + name).c_str(), &st) == 0;
}

frame_ring_options fast(ring_open open = ring_open::create) {
  frame_ring_options o;
  o.open = open;
  o.liveness_interval = 10ms;
  o.attach_timeout = 50ms;
  return o;
}

std::uint8_t pattern(std::uint64_t sequence, std::size_t i) {
  return static_cast<std::uint8_t>(sequence * 131 + i * 7 + 1);
}

void fill_frame(void* p, std::size_t bytes, std::uint64_t sequence) {
  auto* b = static_cast<std::uint8_t*>(p);
  for (std::size_t i = 0; i < bytes; ++i) b[i] = pattern(sequence, i);
}

std::size_t frame_errors(const void* p, std::size_t bytes, std::uint64_t sequence) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < bytes; ++i) wrong += b[i] != pattern(sequence, i);
  return wrong;
}

// A child process for crash tests: runs `body`, which signals readiness through `ready_fd`, and
// exits with its result (_exit: no destructors, no sanitizer exit hooks, like a crash would).
template <class F>
pid_t spawn(F&& body) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::close(p[0]);
    int rc = 1;
    try {
      rc = body(p[1]);
    } catch (...) {
      rc = 99;
    }
    ::_exit(rc);
  }
  ::close(p[1]);
  // Wait for the child to say it is where the test wants it.
  pollfd pfd{p[0], POLLIN, 0};
  char c = 0;
  const bool ready = ::poll(&pfd, 1, 10000) == 1 && ::read(p[0], &c, 1) == 1 && c == 'r';
  ::close(p[0]);
  if (!ready) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error("the child process did not get ready");
  }
  return pid;
}

void say_ready(int fd) {
  const char c = 'r';
  (void)!::write(fd, &c, 1);
}

[[noreturn]] void wait_to_be_killed() {
  for (;;) ::pause();
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

// ---------------------------------------------------------------------------------------------

TEST(frame_ring, frames_arrive_in_order_with_their_bytes_and_timestamps) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 4096 + 100, 4, fast());
  frame_ring_consumer consumer(name, 0, 0, fast(ring_open::attach));
  EXPECT_TRUE(producer.created());
  EXPECT_FALSE(consumer.created());
  EXPECT_EQ(consumer.slot_bytes(), 4096u + 100);
  EXPECT_EQ(consumer.slot_count(), 4u);
  EXPECT_TRUE(producer.consumer_attached());
  EXPECT_TRUE(consumer.producer_attached());

  for (std::uint64_t round = 0; round < 3; ++round) {  // wraps around the 4 slots
    for (std::uint64_t k = 0; k < 3; ++k) {
      frame_ring_producer::slot s;
      ASSERT_TRUE(producer.try_begin_frame(s));
      EXPECT_EQ(s.sequence, round * 3 + k);
      EXPECT_EQ(s.capacity, 4096u + 100);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s.data) % 4096, 0u) << "slots start on page boundaries";
      fill_frame(s.data, 1000 + k, s.sequence);
      producer.publish(1000 + k, 1000 * s.sequence);
    }
    for (std::uint64_t k = 0; k < 3; ++k) {
      frame_ring_consumer::frame f;
      ASSERT_EQ(consumer.acquire(f, 0ns), ring_status::ok);
      EXPECT_EQ(f.sequence, round * 3 + k);
      EXPECT_EQ(f.bytes, 1000 + k);
      EXPECT_EQ(f.timestamp_ns, 1000 * f.sequence);
      EXPECT_EQ(f.device_data, nullptr) << "not registered with CUDA";
      EXPECT_EQ(frame_errors(f.data, f.bytes, f.sequence), 0u);
      consumer.release(f);
    }
    frame_ring_consumer::frame none;
    EXPECT_EQ(consumer.acquire(none, 0ns), ring_status::timeout);
  }
  producer.close();
  frame_ring_consumer::frame f;
  EXPECT_EQ(consumer.acquire(f, 0ns), ring_status::end_of_stream);
  EXPECT_EQ(consumer.dropped_frames(), 0u);
}

TEST(frame_ring, threads_transfer_every_frame_once_in_order) {
  // Producer and consumer in separate threads, each with its own mapping, both blocking: the
  // TSan run checks the code paths, the content check checks the ordering.
  const std::string name = unique_name();
  constexpr std::uint64_t frames = 3000;
  constexpr std::size_t bytes = 512;
  frame_ring_consumer consumer(name, bytes, 4, fast());
  frame_ring_producer producer(name, bytes, 4, fast(ring_open::attach));

  std::thread writer([&] {
    for (std::uint64_t i = 0; i < frames; ++i) {
      frame_ring_producer::slot s;
      if (producer.begin_frame(s, 10s) != ring_status::ok) return;
      fill_frame(s.data, bytes, s.sequence);
      producer.publish(bytes);
    }
    producer.close();
  });
  std::uint64_t received = 0, wrong = 0, out_of_order = 0;
  for (;;) {
    frame_ring_consumer::frame f;
    const ring_status st = consumer.acquire(f, 10s);
    if (st != ring_status::ok) {
      EXPECT_EQ(st, ring_status::end_of_stream);
      break;
    }
    out_of_order += f.sequence != received;
    wrong += frame_errors(f.data, f.bytes, f.sequence);
    ++received;
    consumer.release(f);
  }
  writer.join();
  EXPECT_EQ(received, frames);
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(out_of_order, 0u);
}

TEST(frame_ring, consumer_may_hold_several_frames_and_must_release_them_in_order) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 64, 3, fast());
  frame_ring_consumer consumer(name, 64, 3, fast(ring_open::attach));
  for (int i = 0; i < 3; ++i) {
    frame_ring_producer::slot s;
    ASSERT_TRUE(producer.try_begin_frame(s));
    producer.publish(64);
  }
  frame_ring_producer::slot s;
  EXPECT_FALSE(producer.try_begin_frame(s)) << "full";
  EXPECT_EQ(producer.dropped_frames(), 1u);

  frame_ring_consumer::frame a, b, c;
  ASSERT_EQ(consumer.acquire(a, 0ns), ring_status::ok);
  ASSERT_EQ(consumer.acquire(b, 0ns), ring_status::ok);
  ASSERT_EQ(consumer.acquire(c, 0ns), ring_status::ok);
  try {
    consumer.release(b);
    FAIL();
  } catch (const std::logic_error& e) {
    EXPECT_TRUE(contains(e.what(), "order")) << e.what();
  }
  EXPECT_THROW(consumer.skip_pending(), std::logic_error);
  consumer.release(a);
  try {
    consumer.release(a);
    FAIL();
  } catch (const std::logic_error& e) {
    EXPECT_TRUE(contains(e.what(), "released already")) << e.what();
  }
  frame_ring_consumer::frame never;
  never.sequence = 99;
  EXPECT_THROW(consumer.release(never), std::logic_error);
  ASSERT_TRUE(producer.try_begin_frame(s)) << "one slot came back";
  producer.publish(1);
  consumer.release(b);
  consumer.release(c);
  EXPECT_EQ(consumer.skip_pending(), 1u) << "the frame published after a, b, c was skipped";
  frame_ring_consumer::frame none;
  EXPECT_EQ(consumer.acquire(none, 0ns), ring_status::timeout);
}

TEST(frame_ring, producer_waits_times_out_or_sees_that_no_consumer_is_there) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 64, 1, fast());
  frame_ring_producer::slot s;
  ASSERT_EQ(producer.begin_frame(s, 0ns), ring_status::ok);
  frame_ring_producer::slot again;
  ASSERT_EQ(producer.begin_frame(again, 0ns), ring_status::ok);
  EXPECT_EQ(again.data, s.data) << "begin before publish returns the same slot";
  producer.publish(64);
  EXPECT_EQ(producer.begin_frame(s, 20ms), ring_status::consumer_gone) << "full, and nobody to empty it";
  {
    frame_ring_consumer consumer(name, 64, 1, fast(ring_open::attach));
    EXPECT_EQ(producer.begin_frame(s, 20ms), ring_status::timeout) << "full; the consumer holds on";
    frame_ring_consumer::frame f;
    ASSERT_EQ(consumer.acquire(f, 0ns), ring_status::ok);
    consumer.release(f);
    EXPECT_EQ(producer.begin_frame(s, 20ms), ring_status::ok);
  }
  EXPECT_FALSE(producer.consumer_attached());
}

TEST(frame_ring, publish_and_release_misuse) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 64, 2, fast());
  try {
    producer.publish(1);
    FAIL();
  } catch (const std::logic_error& e) {
    EXPECT_TRUE(contains(e.what(), "no frame was begun")) << e.what();
  }
  frame_ring_producer::slot s;
  ASSERT_TRUE(producer.try_begin_frame(s));
  try {
    producer.publish(65);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "65 B")) << e.what();
    EXPECT_TRUE(contains(e.what(), "64 B")) << e.what();
  }
  producer.publish(64);  // the frame is still begun after the refusal
  producer.close();
  try {
    producer.try_begin_frame(s);
    FAIL();
  } catch (const std::logic_error& e) {
    EXPECT_TRUE(contains(e.what(), "closed")) << e.what();
  }
}

// Issue 12 row 7: release() of the untouched frame of an acquire that timed out was accepted,
// moved read_index past write_index, and the producer saw the ring full forever.
TEST(frame_ring, a_frame_that_was_never_taken_cannot_be_released_and_the_ring_keeps_flowing) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 64, 2, fast());
  frame_ring_consumer consumer(name, 64, 2, fast(ring_open::attach));
  frame_ring_consumer::frame f;
  ASSERT_EQ(consumer.acquire(f, 0ns), ring_status::timeout);
  try {
    consumer.release(f);
    FAIL() << "a frame from a timed-out acquire was released";
  } catch (const std::logic_error& e) {
    EXPECT_TRUE(contains(e.what(), "release(\"" + name + "\", frame 0): it was never taken")) << e.what();
    EXPECT_TRUE(contains(e.what(), "no frame is taken now")) << e.what();
  }
  for (std::uint64_t i = 0; i < 5; ++i) {  // more frames than slots: the ring turns over
    frame_ring_producer::slot s;
    ASSERT_TRUE(producer.try_begin_frame(s)) << "frame " << i << ": the ring is not wedged";
    fill_frame(s.data, 64, s.sequence);
    producer.publish(64);
    ASSERT_EQ(consumer.acquire(f, 0ns), ring_status::ok);
    EXPECT_EQ(f.sequence, i);
    EXPECT_EQ(frame_errors(f.data, f.bytes, f.sequence), 0u);
    consumer.release(f);
  }
  // A frame of another ring (same sequence, other memory) is refused too.
  frame_ring_producer::slot s;
  ASSERT_TRUE(producer.try_begin_frame(s));
  producer.publish(8);
  ASSERT_EQ(consumer.acquire(f, 0ns), ring_status::ok);
  frame_ring_consumer::frame forged = f;
  forged.data = &forged;
  EXPECT_THROW(consumer.release(forged), std::logic_error);
  consumer.release(f);
}

/// The ring's header, mapped a second time, as a peer process could write it.
struct raw_header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t page_size;
  std::uint64_t slot_bytes;
  std::uint64_t slot_stride;
  std::uint64_t data_offset;
  std::uint64_t total_bytes;
  std::uint32_t slot_count;
  std::uint32_t reserved0;
  alignas(64) std::uint64_t write_index;
  std::uint64_t dropped;
  std::uint64_t producer_generation;
  std::uint32_t producer_state, data_seq, data_waiters;
  alignas(64) std::uint64_t read_index;
  std::uint32_t consumer_state, space_seq, space_waiters;
};

struct peer_mapping {
  explicit peer_mapping(const std::string& name) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    EXPECT_NE(p, MAP_FAILED);
    h = static_cast<raw_header*>(p);
  }
  ~peer_mapping() { ::munmap(h, 4096); }
  std::uint64_t* meta(std::uint32_t index) const {  // bytes, timestamp_ns, sequence, reserved
    return reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::byte*>(h) + sizeof(raw_header)) + 4 * index;
  }
  raw_header* h;
};

// Issue 12 row 11: a header changed by the peer after attach (slot_count 0, a huge data_offset)
// was used for a division and a pointer: SIGFPE, SIGSEGV.
TEST(frame_ring, a_header_rewritten_by_the_peer_after_attach_is_never_trusted) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 4096, 4, fast());
  frame_ring_consumer consumer(name, 0, 0, fast(ring_open::attach));
  {
    peer_mapping peer(name);
    ASSERT_EQ(peer.h->slot_count, 4u) << "the test's picture of the layout is right";
    peer.h->slot_count = 0;
    peer.h->data_offset = ~std::uint64_t{0} / 2;
    peer.h->slot_stride = 0;
    peer.h->slot_bytes = ~std::uint64_t{0};
  }
  EXPECT_EQ(producer.slot_count(), 4u);
  EXPECT_EQ(consumer.slot_count(), 4u);
  EXPECT_EQ(consumer.slot_bytes(), 4096u);
  for (std::uint64_t i = 0; i < 9; ++i) {
    frame_ring_producer::slot s;
    ASSERT_TRUE(producer.try_begin_frame(s));
    EXPECT_EQ(s.capacity, 4096u);
    fill_frame(s.data, 4096, s.sequence);
    EXPECT_THROW(producer.publish(4097), std::invalid_argument) << "the slot size is this end's, not the header's";
    producer.publish(4096);
    frame_ring_consumer::frame f;
    ASSERT_EQ(consumer.acquire(f, 0ns), ring_status::ok);
    EXPECT_EQ(frame_errors(f.data, f.bytes, f.sequence), 0u);
    consumer.release(f);
  }
}

TEST(frame_ring, slot_meta_and_indices_written_by_a_broken_peer_are_refused_not_followed) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 4096, 2, fast());
  std::optional<frame_ring_consumer> consumer;
  consumer.emplace(name, 0, 0, fast(ring_open::attach));
  peer_mapping peer(name);
  frame_ring_producer::slot s;
  ASSERT_TRUE(producer.try_begin_frame(s));
  producer.publish(100);
  peer.meta(0)[0] = 1u << 20;  // claims more bytes than a slot holds
  frame_ring_consumer::frame f;
  try {
    consumer->acquire(f, 0ns);
    FAIL() << "a frame larger than its slot was handed out";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "frame 0 of 1048576 B")) << e.what();
    EXPECT_TRUE(contains(e.what(), "nothing was taken")) << e.what();
  }
  peer.meta(0)[0] = 100;  // repaired: the frame is taken as published
  ASSERT_EQ(consumer->acquire(f, 0ns), ring_status::ok);
  EXPECT_EQ(f.bytes, 100u);
  consumer->release(f);

  // A read_index ahead of write_index (what row 7 left behind) does not make the producer see a
  // full ring, and the next consumer repairs it.
  peer.h->read_index = 1000;
  ASSERT_TRUE(producer.try_begin_frame(s));
  producer.publish(8);
  consumer.emplace(name, 0, 0, fast(ring_open::attach));
  EXPECT_EQ(peer.h->read_index, peer.h->write_index) << "clamped to what is published";
  ASSERT_TRUE(producer.try_begin_frame(s));
  producer.publish(8);
  ASSERT_EQ(consumer->acquire(f, 0ns), ring_status::ok);
  EXPECT_EQ(f.sequence, 2u);
  consumer->release(f);
}

// ---------------------------------------------------------------------------------------------
// Names, permissions and bad input

TEST(frame_ring, an_existing_name_is_refused_unless_asked_to_attach) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 64, 2, fast());
  try {
    frame_ring_consumer c(name, 64, 2, fast(ring_open::create));
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::file_exists);
    EXPECT_TRUE(contains(e.what(), name)) << e.what();
    EXPECT_TRUE(contains(e.what(), "ring_open::attach")) << e.what();
    EXPECT_TRUE(contains(e.what(), "remove_frame_ring")) << e.what();
    EXPECT_TRUE(contains(e.what(), "mode 0600")) << e.what();
  }
  frame_ring_consumer c(name, 64, 2, fast(ring_open::create_or_attach));
  EXPECT_FALSE(c.created());

  // One producer, one consumer.
  try {
    frame_ring_producer second(name, 0, 0, fast(ring_open::attach));
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::device_or_resource_busy);
    EXPECT_TRUE(contains(e.what(), "already has a producer")) << e.what();
  }
  EXPECT_THROW(frame_ring_consumer(name, 0, 0, fast(ring_open::attach)), std::system_error);
}

TEST(frame_ring, attach_to_a_missing_name_says_what_to_do) {
  try {
    frame_ring_consumer c(unique_name(), 0, 0, fast(ring_open::attach));
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_TRUE(contains(e.what(), "create_or_attach")) << e.what();
  }
}

TEST(frame_ring, permissions_are_0600_by_default_whatever_the_umask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    const mode_t old = ::umask(mask);
    const std::string a = unique_name(), b = unique_name();
    {
      frame_ring_producer by_default(a, 64, 2, fast());
      frame_ring_options group = fast();
      group.permissions = 0660;
      frame_ring_producer shared(b, 64, 2, group);
      struct stat st {};
      ASSERT_EQ(::stat(("/dev/shm" + a).c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0600u) << "umask " << mask;
      ASSERT_EQ(::stat(("/dev/shm" + b).c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0660u) << "umask " << mask;
    }
    ::umask(old);
    EXPECT_FALSE(shm_exists(a)) << "the creator removes the name when it closes";
    EXPECT_FALSE(shm_exists(b));
  }
}

TEST(frame_ring, unlink_on_close_false_keeps_the_name_for_remove_frame_ring) {
  const std::string name = unique_name();
  frame_ring_options keep = fast();
  keep.unlink_on_close = false;
  { frame_ring_producer p(name, 64, 2, keep); }
  EXPECT_TRUE(shm_exists(name));
  { frame_ring_consumer c(name, 64, 2, fast(ring_open::attach)); }  // attaches to what is left
  EXPECT_TRUE(remove_frame_ring(name));
  EXPECT_FALSE(remove_frame_ring(name));
  EXPECT_THROW(remove_frame_ring("no-slash"), std::invalid_argument);
}

TEST(frame_ring, bad_input_is_refused_and_leaves_nothing) {
  const int fds_before = test::open_fd_count();
  const std::string name = unique_name();
  auto refused = [](auto&& make, const std::string& part) {
    try {
      make();
      ADD_FAILURE() << "accepted; expected an error mentioning " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(contains(e.what(), part)) << e.what();
    }
  };
  for (const std::string& bad :
       std::vector<std::string>{"", "x", "/", "/a/b", "/" + std::string(300, 'n'), std::string("/a\0b", 4)}) {
    refused([&] { frame_ring_producer p(bad, 64, 2, fast()); }, "a ring name is");
  }
  refused([&] { frame_ring_producer p(name, 0, 2, fast()); }, "non-zero slot size");
  refused([&] { frame_ring_producer p(name, 64, 0, fast()); }, "non-zero slot size");
  refused([&] { frame_ring_producer p(name, 64, 65537, fast()); }, "at most 65536 slots");
  refused([&] { frame_ring_producer p(name, SIZE_MAX / 2, 4, fast()); }, "overflows");
  frame_ring_options odd = fast();
  odd.permissions = 01777;
  refused([&] { frame_ring_producer p(name, 64, 2, odd); }, "beyond 0777");
  EXPECT_FALSE(shm_exists(name)) << "a refused create leaves no name behind";

  {
    frame_ring_producer p(name, 64, 2, fast());
    refused([&] { frame_ring_consumer c(name, 128, 2, fast(ring_open::attach)); }, "2 slots of 64 B");
    refused([&] { frame_ring_consumer c(name, 64, 3, fast(ring_open::attach)); }, "2 slots of 64 B");
  }

  // Objects that are not rings: too small, and a page of junk.
  for (std::size_t size : {std::size_t{10}, std::size_t{4096}}) {
    const std::string junk = unique_name();
    const int fd = ::shm_open(junk.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    if (size == 4096) {
      ASSERT_EQ(::pwrite(fd, "junkjunkjunk", 12, 0), 12);
    }
    ::close(fd);
    refused([&] { frame_ring_consumer c(junk, 0, 0, fast(ring_open::attach)); }, "not a unimem frame ring");
    ::shm_unlink(junk.c_str());
  }
  EXPECT_EQ(test::open_fd_count(), fds_before) << "a descriptor leaked";
}

TEST(frame_ring, registration_is_refused_on_boards_without_host_register_and_the_ring_keeps_working) {
  const std::string name = unique_name();
  frame_ring_consumer consumer(name, 64, 2, fast());
  EXPECT_THROW(consumer.register_with_cuda({}, device_profile::jetson_nano()), unsupported_error);
  EXPECT_FALSE(consumer.registered());
  frame_ring_producer producer(name, 64, 2, fast(ring_open::attach));
  frame_ring_producer::slot s;
  ASSERT_TRUE(producer.try_begin_frame(s));
  producer.publish(8);
  frame_ring_consumer::frame f;
  EXPECT_EQ(consumer.acquire(f, 0ns), ring_status::ok);
}

// ---------------------------------------------------------------------------------------------
// Crashes

TEST(frame_ring, a_killed_producer_is_reported_and_a_new_one_can_take_over) {
  const std::string name = unique_name();
  frame_ring_consumer consumer(name, 4096, 4, fast());
  const pid_t child = spawn([&](int ready) -> int {
    frame_ring_producer producer(name, 0, 0, fast(ring_open::attach));
    for (int i = 0; i < 3; ++i) {
      frame_ring_producer::slot s;
      if (!producer.try_begin_frame(s)) return 2;
      fill_frame(s.data, 4096, s.sequence);
      producer.publish(4096);
    }
    // Dies in the middle of writing a fourth frame, which must never reach the consumer.
    frame_ring_producer::slot s;
    if (!producer.try_begin_frame(s)) return 3;
    std::memset(s.data, 0xee, 2048);
    say_ready(ready);
    wait_to_be_killed();
  });
  EXPECT_TRUE(consumer.producer_attached());
  kill_and_reap(child);

  for (std::uint64_t i = 0; i < 3; ++i) {
    frame_ring_consumer::frame f;
    ASSERT_EQ(consumer.acquire(f, 5s), ring_status::ok) << "frames published before the crash still arrive";
    EXPECT_EQ(f.sequence, i);
    EXPECT_EQ(frame_errors(f.data, f.bytes, f.sequence), 0u);
    consumer.release(f);
  }
  frame_ring_consumer::frame f;
  // A 30 s timeout: the consumer returns long before, as soon as it notices the dead producer.
  EXPECT_EQ(consumer.acquire(f, 30s), ring_status::producer_lost);
  EXPECT_FALSE(consumer.producer_attached());
  EXPECT_EQ(consumer.acquire(f, 30ms), ring_status::timeout) << "reported once; then it waits for a new producer";

  // Recovery: a new producer attaches to the same ring and the stream resumes.
  frame_ring_producer replacement(name, 0, 0, fast(ring_open::attach));
  frame_ring_producer::slot s;
  ASSERT_TRUE(replacement.try_begin_frame(s));
  EXPECT_EQ(s.sequence, 3u) << "the half-written frame's slot is reused";
  fill_frame(s.data, 100, s.sequence);
  replacement.publish(100);
  ASSERT_EQ(consumer.acquire(f, 1s), ring_status::ok);
  EXPECT_EQ(f.sequence, 3u);
  EXPECT_EQ(frame_errors(f.data, f.bytes, f.sequence), 0u);
  consumer.release(f);
}

TEST(frame_ring, a_consumer_blocked_in_acquire_wakes_when_the_producer_dies) {
  const std::string name = unique_name();
  frame_ring_consumer consumer(name, 64, 2, fast());
  const pid_t child = spawn([&](int ready) -> int {
    frame_ring_producer producer(name, 0, 0, fast(ring_open::attach));
    say_ready(ready);
    wait_to_be_killed();
  });
  std::thread killer([&] {
    std::this_thread::sleep_for(30ms);  // let the consumer block first
    kill_and_reap(child);
  });
  frame_ring_consumer::frame f;
  EXPECT_EQ(consumer.acquire(f, 30s), ring_status::producer_lost);
  killer.join();
}

TEST(frame_ring, a_killed_consumer_frees_the_producer_and_its_frames_go_to_the_next_consumer) {
  const std::string name = unique_name();
  frame_ring_producer producer(name, 64, 2, fast());
  for (int i = 0; i < 2; ++i) {
    frame_ring_producer::slot s;
    ASSERT_TRUE(producer.try_begin_frame(s));
    fill_frame(s.data, 64, s.sequence);
    producer.publish(64);
  }
  const pid_t child = spawn([&](int ready) -> int {
    frame_ring_consumer consumer(name, 0, 0, fast(ring_open::attach));
    frame_ring_consumer::frame f;
    if (consumer.acquire(f, 1s) != ring_status::ok) return 2;
    say_ready(ready);  // holds frame 0 without releasing it
    wait_to_be_killed();
  });
  kill_and_reap(child);
  frame_ring_producer::slot s;
  EXPECT_EQ(producer.begin_frame(s, 30s), ring_status::consumer_gone);

  frame_ring_consumer next(name, 0, 0, fast(ring_open::attach));
  frame_ring_consumer::frame f;
  ASSERT_EQ(next.acquire(f, 0ns), ring_status::ok);
  EXPECT_EQ(f.sequence, 0u) << "the frame the dead consumer never released is delivered again";
  EXPECT_EQ(frame_errors(f.data, f.bytes, f.sequence), 0u);
}

TEST(frame_ring, frames_cross_processes_with_blocking_waits_on_both_sides) {
  const std::string name = unique_name();
  constexpr std::uint64_t frames = 200;
  constexpr std::size_t bytes = 8192;
  frame_ring_consumer consumer(name, bytes, 2, fast());
  const pid_t child = spawn([&](int ready) -> int {
    frame_ring_producer producer(name, 0, 0, fast(ring_open::attach));
    say_ready(ready);
    for (std::uint64_t i = 0; i < frames; ++i) {
      frame_ring_producer::slot s;
      if (producer.begin_frame(s, 10s) != ring_status::ok) return 2;
      fill_frame(s.data, bytes, s.sequence);
      producer.publish(bytes);
    }
    producer.close();
    return 0;
  });
  std::uint64_t received = 0, wrong = 0;
  ring_status st;
  frame_ring_consumer::frame f;
  while ((st = consumer.acquire(f, 10s)) == ring_status::ok) {
    wrong += frame_errors(f.data, f.bytes, f.sequence) + (f.sequence != received);
    ++received;
    consumer.release(f);
  }
  EXPECT_EQ(st, ring_status::end_of_stream);
  EXPECT_EQ(received, frames);
  EXPECT_EQ(wrong, 0u);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

// ---------------------------------------------------------------------------------------------
// On a GPU

using frame_ring_gpu = test::gpu_test;

TEST_F(frame_ring_gpu, kernels_read_and_write_producer_frames_in_place_through_one_registration) {
  const std::string name = unique_name();
  constexpr std::size_t bytes = 1u << 20;
  constexpr std::uint64_t frames = 12;
  frame_ring_consumer consumer(name, bytes, 4, fast());
  // The producer is another process; it never touches CUDA.
  const pid_t child = spawn([&](int ready) -> int {
    frame_ring_producer producer(name, 0, 0, fast(ring_open::attach));
    say_ready(ready);
    for (std::uint64_t i = 0; i < frames; ++i) {
      frame_ring_producer::slot s;
      if (producer.begin_frame(s, 30s) != ring_status::ok) return 2;
      std::memset(s.data, static_cast<int>((i * 29 + 7) & 0xff), bytes);
      producer.publish(bytes);
    }
    producer.close();
    return 0;
  });
  consumer.register_with_cuda();
  ASSERT_TRUE(consumer.registered());
  consumer.register_with_cuda();  // once for the ring's life: a second call does nothing

  std::vector<void*> device_by_slot(4, nullptr);
  std::uint64_t received = 0;
  frame_ring_consumer::frame f;
  ring_status st;
  while ((st = consumer.acquire(f, 30s)) == ring_status::ok) {
    ASSERT_NE(f.device_data, nullptr);
    if (device_by_slot[f.index] == nullptr) device_by_slot[f.index] = f.device_data;
    EXPECT_EQ(device_by_slot[f.index], f.device_data) << "the same registration serves every frame";
    const auto expected = static_cast<std::uint8_t>((f.sequence * 29 + 7) & 0xff);
    EXPECT_EQ(test::device_count_mismatches(f.device_data, f.bytes, expected), 0u) << "frame " << f.sequence;
    test::device_fill(f.device_data, f.bytes, 0);  // in place
    EXPECT_EQ(static_cast<const std::uint8_t*>(f.data)[f.bytes - 1], 0) << "the CPU sees the kernel's write";
    consumer.release(f);
    ++received;
  }
  EXPECT_EQ(st, ring_status::end_of_stream);
  EXPECT_EQ(received, frames);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

}  // namespace
}  // namespace unimem

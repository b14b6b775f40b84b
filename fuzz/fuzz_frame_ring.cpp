// libFuzzer target: the frame ring's attach path and both ends' operations over a shared header
// and slot records that the peer corrupts, before the second end attaches and again between
// operations (writes at fuzzed offsets of the first page, through a second mapping). Attaching is
// refused with std::invalid_argument or std::system_error, or succeeds; afterwards every operation
// returns, or throws std::logic_error or std::runtime_error, and no frame or slot handed out ever
// lies outside the ring's memory (the target writes every byte of each).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include <unimem/zero_copy/frame_ring.hpp>

#include "fuzz_input.hpp"

namespace {

using namespace std::chrono_literals;
using unimem::fuzz::fail;

unimem::frame_ring_options options(unimem::ring_open open) {
  unimem::frame_ring_options o;
  o.open = open;
  o.attach_timeout = 0ms;
  o.liveness_interval = 1ms;
  return o;
}

/// Writes a fuzzed value at a fuzzed offset of the ring's first page, as a peer process could.
void corrupt(const std::string& name, unimem::fuzz::input& in) {
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return;
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return;
  const auto writes = in.take<std::uint8_t>() % 4;
  for (unsigned i = 0; i < writes; ++i) {
    const auto offset = static_cast<std::size_t>(in.take<std::uint16_t>() % (4096 - 8)) & ~std::size_t{3};
    const auto value = in.take<std::uint64_t>();
    std::memcpy(static_cast<unsigned char*>(p) + offset, &value, (in.take<std::uint8_t>() & 1) != 0 ? 8 : 4);
  }
  ::munmap(p, 4096);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  unimem::fuzz::input in(data, size);
  const std::string name = "/unimem-fuzz-ring-" + std::to_string(::getpid());
  unimem::remove_frame_ring(name);
  const std::uint32_t slots = 1 + in.take<std::uint8_t>() % 8;
  const std::size_t slot_bytes = 1 + in.take<std::uint16_t>() % 9000;
  const bool consumer_creates = (in.take<std::uint8_t>() & 1) != 0;

  std::optional<unimem::frame_ring_producer> producer;
  std::optional<unimem::frame_ring_consumer> consumer;
  if (consumer_creates) {
    consumer.emplace(name, slot_bytes, slots, options(unimem::ring_open::create));
  } else {
    producer.emplace(name, slot_bytes, slots, options(unimem::ring_open::create));
  }
  corrupt(name, in);
  try {
    if (consumer_creates) {
      producer.emplace(name, 0, 0, options(unimem::ring_open::attach));
    } else {
      consumer.emplace(name, 0, 0, options(unimem::ring_open::attach));
    }
  } catch (const std::invalid_argument&) {
    return 0;  // the damaged header was refused
  } catch (const std::system_error&) {
    return 0;
  }
  // The creator keeps what it created. The attaching end believes the header, which the peer may
  // have rewritten before it attached: a slot_bytes rounding to the same page multiple cannot be
  // told from a ring created so, and anything else is inconsistent with the object's size.
  const unimem::frame_ring_producer& p = *producer;
  const unimem::frame_ring_consumer& c = *consumer;
  const std::size_t attached_bytes = consumer_creates ? p.slot_bytes() : c.slot_bytes();
  const std::size_t created_bytes = consumer_creates ? c.slot_bytes() : p.slot_bytes();
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (p.slot_count() != slots || c.slot_count() != slots || created_bytes != slot_bytes || attached_bytes == 0 ||
      (attached_bytes + page - 1) / page != (slot_bytes + page - 1) / page) {
    fail("fuzz_frame_ring", "an end believes a geometry that the ring's memory does not hold");
  }

  unimem::frame_ring_consumer::frame held{};
  bool holding = false;
  for (int step = 0; step < 24 && in.left() > 0; ++step) {
    try {
      switch (in.take<std::uint8_t>() % 6) {
        case 0: {
          unimem::frame_ring_producer::slot s;
          if (producer->try_begin_frame(s)) {
            if (s.capacity != p.slot_bytes() || s.index >= slots) fail("fuzz_frame_ring", "a slot outside the ring");
            std::memset(s.data, 0x5a, s.capacity);
            producer->publish(in.take<std::uint16_t>() % (s.capacity + 1));
          }
          break;
        }
        case 1: {
          unimem::frame_ring_consumer::frame f;
          if (consumer->acquire(f, 0ns) == unimem::ring_status::ok) {
            if (f.bytes > c.slot_bytes() || f.index >= slots) fail("fuzz_frame_ring", "a frame outside its slot");
            std::memset(f.data, 0xa5, f.bytes);
            if (holding) consumer->release(held);
            held = f;
            holding = true;
          }
          break;
        }
        case 2:
          if (holding) {
            consumer->release(held);
            holding = false;
          }
          break;
        case 3: corrupt(name, in); break;
        case 4: {
          unimem::frame_ring_consumer::frame forged{};
          forged.sequence = in.take<std::uint64_t>() % 64;
          consumer->release(forged);  // accepted only if it is the frame to hand back
          holding = false;
          break;
        }
        case 5: (void)consumer->skip_pending(); break;
      }
    } catch (const std::logic_error&) {
    } catch (const std::runtime_error&) {
    }
  }
  return 0;
}

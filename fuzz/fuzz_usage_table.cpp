// libFuzzer target: the usage-table reader behind read_usage_segment and unimem-top, over a
// file whose every byte another process wrote (a memfd holding the input). The reader returns
// nothing or a table; it never reads past the file, never trusts a size, and stays fast however
// many slots claim to be mid-update.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.hpp"
#include "planning/usage_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("fuzz_usage_table", MFD_CLOEXEC);
  if (fd < 0) return 0;
  std::size_t done = 0;
  while (done < size) {
    const ssize_t w = ::write(fd, data + done, size - done);
    if (w <= 0) break;
    done += static_cast<std::size_t>(w);
  }
  const auto u = unimem::detail::read_usage_table(fd, "fuzz", false);
  ::close(fd);
  if (!u) return 0;
  // Slots start after a header of at least 128 bytes and are at least 80 bytes each.
  if (size < 128 || u->tags.size() > (size - 128) / 80) unimem::fuzz::fail("fuzz_usage_table", "more tags than slots");
  for (const auto& t : u->tags) {
    if (t.name.size() > 48) unimem::fuzz::fail("fuzz_usage_table", "a name longer than its slot");
    if (!t.consistent && (t.current_bytes != 0 || t.peak_bytes != 0)) {
      unimem::fuzz::fail("fuzz_usage_table", "numbers from a slot that never settled");
    }
  }
  if (u->label.size() > 64) unimem::fuzz::fail("fuzz_usage_table", "a label longer than its field");
  return 0;
}

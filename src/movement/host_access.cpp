#include <unimem/movement/host_access.hpp>

#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/nvtx_range.hpp"

namespace unimem {

host_access::host_access(void* p, std::size_t bytes, const std::vector<stream_view>& streams, attachment current,
                         const device_profile& profile, cuda_calls& calls)
    : p_(p), bytes_(bytes), calls_(&calls) {
  if (p == nullptr && bytes != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::host_access(nullptr, {}): need the managed allocation the CPU will touch, got a null pointer",
        detail::format_bytes(bytes)));
  }
  if (current.mode == attach_mode::single && current.stream.is_default()) {
    throw std::invalid_argument(fmt::format(
        "unimem::host_access({}, {}): attachment::single names the default stream, which CUDA does not allow; "
        "name the stream the allocation was attached to",
        p, detail::format_bytes(bytes)));
  }
  if (!profile.managed_memory) {
    throw unsupported_error(fmt::format(
        "unimem::host_access: {} reports managedMemory = 0, so there is no managed memory to guard",
        profile.name));
  }
  if (bytes == 0) return;
  detail::nvtx_range range("unimem::host_access", bytes);

  if (!profile.concurrent_managed_access) {
    switch (current.mode) {
      case attach_mode::host:
        return;  // host-attached memory is the CPU's already: no kernel may be using it
      case attach_mode::single:
        // The stream is idle after the sync, which alone would allow CPU access; attaching to the
        // host first keeps it allowed when the caller queues unrelated work on that stream.
        calls.stream_attach_mem_async(current.stream, p, attach_mode::host);
        calls.stream_synchronize(current.stream);
        restore_mode_ = attach_mode::single;
        restore_stream_ = current.stream;
        restore_ = true;
        return;
      case attach_mode::global: {
        stream_view owner{};
        if (streams.empty()) {
          calls.device_synchronize();  // nobody said which streams use it: wait for all of them
        } else {
          for (std::size_t i = 1; i < streams.size(); ++i) calls.stream_synchronize(streams[i]);
          owner = streams.front();
        }
        calls.stream_attach_mem_async(owner, p, attach_mode::host);
        calls.stream_synchronize(owner);
        restore_mode_ = attach_mode::global;
        restore_stream_ = owner;
        restore_ = true;
        return;
      }
    }
    return;
  }

  // Concurrent access is legal; the CPU must still not read what queued kernels are writing.
  std::vector<stream_view> users = streams;
  if (users.empty() && current.mode == attach_mode::single) users.push_back(current.stream);
  stream_view last{};
  if (users.empty()) {
    calls.device_synchronize();
  } else {
    for (std::size_t i = 1; i < users.size(); ++i) calls.stream_synchronize(users[i]);
    last = users.front();
  }
  // On a discrete GPU one bulk migration beats a page fault per 4 KiB (or 64 KiB) the CPU touches;
  // on an integrated GPU the pages are already in the CPU's DRAM.
  if (!profile.integrated) calls.mem_prefetch_async(p, bytes, location::host(), last);
  if (!users.empty() || !profile.integrated) calls.stream_synchronize(last);
}

host_access::~host_access() {
  try {
    close();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; close() reports
  }
}

void host_access::close() {
  if (!restore_) return;
  restore_ = false;
  calls_->stream_attach_mem_async(restore_stream_, p_, restore_mode_);
}

}  // namespace unimem

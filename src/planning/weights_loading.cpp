// Getting a model's weights into memory: the file loader, and the one path from a loader to
// device-usable weights (in place, or staged and copied; managed weights handed to the GPU).
#include "planning/weights_loading.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/movement/copy.hpp>
#include <unimem/movement/prefetch.hpp>

namespace unimem {

namespace {

// A weights file is read whole into memory of its registered size, so anything but a regular file
// is refused before reading: non-blocking, so a FIFO named like the file cannot hang the load.
class file_descriptor {
 public:
  explicit file_descriptor(const std::string& path) {
    if (path.find('\0') != std::string::npos) {
      // open() would stop at the NUL and read another file than the one named.
      throw std::invalid_argument(fmt::format(
          "unimem::load_weights_file(\"{}\"): the path contains a NUL byte; pass a plain file name", printable(path)));
    }
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(),
                              fmt::format("unimem::load_weights_file: open(\"{}\")", printable(path)));
    }
  }
  ~file_descriptor() { ::close(fd_); }
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace

weight_loader load_weights_file(std::string path) {
  return [path = std::move(path)](const weight_load& load) {
    const file_descriptor fd(path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              fmt::format("unimem::load_weights_file: fstat(\"{}\")", printable(path)));
    }
    if (!S_ISREG(st.st_mode)) {
      throw std::runtime_error(fmt::format(
          "unimem::load_weights_file(\"{}\") for model \"{}\": not a regular file (a FIFO, device or folder); point "
          "weights_file at the weights file itself",
          printable(path), printable(load.model)));
    }
    if (static_cast<std::size_t>(st.st_size) != load.bytes) {
      throw std::runtime_error(fmt::format(
          "unimem::load_weights_file(\"{}\") for model \"{}\": the file holds {} B but the model was registered with "
          "weight_bytes = {} B; register the file's size, or point weights_file at the right file",
          printable(path), printable(load.model), static_cast<long long>(st.st_size), load.bytes));
    }
    // One pass straight into the destination: read(2) may return less than asked, never more.
    auto* dst = static_cast<char*>(load.destination);
    std::size_t done = 0;
    while (done < load.bytes) {
      const ssize_t n = ::read(fd.get(), dst + done, load.bytes - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("unimem::load_weights_file: read(\"{}\") at byte {}", printable(path), done));
      }
      if (n == 0) {
        throw std::runtime_error(fmt::format(
            "unimem::load_weights_file(\"{}\"): the file ended after {} of {} B (was it truncated while loading?); "
            "rewrite it and acquire again",
            printable(path), done, load.bytes));
      }
      done += static_cast<std::size_t>(n);
    }
  };
}

namespace residency_detail {

void fill_weights(const fill_request& r) {
  const resource_traits traits = r.weights.traits();
  if (r.staging == nullptr) {
    r.loader(weight_load{r.model, r.file, r.destination, r.bytes, traits.kind, false});
    if (traits.kind == memory_kind::managed) {
      // Where concurrentManagedAccess = 0 the block was allocated attached to the host, so the
      // loader could write it while other models' kernels ran; prefetch() attaches it globally
      // there (and migrates it elsewhere). Synchronised so every stream's kernels may use it.
      (void)prefetch(r.destination, r.bytes, location::on_device(r.profile->device < 0 ? 0 : r.profile->device),
                     r.stream, *r.profile, r.calls);
      r.calls.stream_synchronize(r.stream);
    }
    return;
  }
  const std::size_t alignment = default_alignment;
  void* staged = r.staging->allocate(r.bytes, alignment);
  try {
    const resource_traits staging_traits = r.staging->traits();
    r.loader(weight_load{r.model, r.file, staged, r.bytes, staging_traits.kind, true});
    (void)copy(destination{r.destination, traits, side::device}, source{staged, staging_traits}, r.bytes, r.stream,
               *r.profile, r.calls);
    r.calls.stream_synchronize(r.stream);
  } catch (...) {
    // The copy may still be queued when the synchronisation itself failed; staging memory goes
    // back on the same stream, which orders the free after it.
    r.staging->deallocate(staged, r.bytes, alignment, r.stream);
    throw;
  }
  r.staging->deallocate(staged, r.bytes, alignment, r.stream);
}

}  // namespace residency_detail
}  // namespace unimem

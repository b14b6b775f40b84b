#include <unimem_support/output.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace unimem::support {

bool flush_stdout(const char* tool) {
  errno = 0;
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return true;
  const int err = errno;
  std::fprintf(stderr, "%s: writing to standard output failed: %s\n", tool,
               err != 0 ? std::strerror(err) : "write error");
  return false;
}

}  // namespace unimem::support

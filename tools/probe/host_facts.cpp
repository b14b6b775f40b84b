#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include "probe.hpp"

namespace unimem::probe {

host_facts read_host_facts() {
  host_facts f;
  try {
    f.memory = read_meminfo();
  } catch (const std::exception&) {
    f.memory.reset();
  }
  f.page_size = ::sysconf(_SC_PAGESIZE);
  f.cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  rlimit lim{};
  if (::getrlimit(RLIMIT_MEMLOCK, &lim) == 0) {
    f.memlock_limit = lim.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(lim.rlim_cur);
  }
  return f;
}

}  // namespace unimem::probe

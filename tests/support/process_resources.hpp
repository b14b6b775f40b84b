// Test support: what the process holds right now (open descriptors, mappings), to prove that a
// failed call left nothing behind.
#pragma once

#include <dirent.h>

#include <fstream>
#include <string>

namespace unimem::test {

/// Entries in /proc/self/fd (the directory's own descriptor is not counted).
inline int open_fd_count() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;
}

/// Lines of /proc/self/maps that mention `needle` (e.g. a memfd's name).
inline int mapping_count(const std::string& needle) {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace unimem::test

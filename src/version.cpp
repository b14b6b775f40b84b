#include <unimem/version.hpp>

namespace unimem {

#define UNIMEM_STR2(x) #x
#define UNIMEM_STR(x) UNIMEM_STR2(x)
const char* version() noexcept {
  return UNIMEM_STR(UNIMEM_VERSION_MAJOR) "." UNIMEM_STR(UNIMEM_VERSION_MINOR) "." UNIMEM_STR(UNIMEM_VERSION_PATCH);
}

}  // namespace unimem

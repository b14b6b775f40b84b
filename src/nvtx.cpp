// Whether this build emits NVTX ranges: the one public fact about the private nvtx_range.
#include <unimem/nvtx.hpp>

#include "detail/nvtx_range.hpp"

namespace unimem {

bool nvtx_enabled() noexcept { return detail::nvtx_built_in; }

}  // namespace unimem

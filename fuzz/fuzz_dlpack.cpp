// libFuzzer target: DLPack import (from_dlpack) of a tensor another framework describes however
// it likes: ndim, shape, strides, dtype, device, data, byte_offset. The tensor is refused with
// std::invalid_argument, std::overflow_error or unimem::unsupported_error, or imported with a
// consistent description; either way the producer's deleter runs exactly once. The shape and
// strides arrays hold at most 128 entries, so ASan sees any read that believes a larger ndim.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include <unimem/error.hpp>
#include <unimem/typed/dlpack.hpp>

#include "fuzz_input.hpp"

namespace {

using unimem::fuzz::fail;

constexpr std::size_t array_room = 128;

struct producer {
  std::vector<std::int64_t> shape, strides;
  std::vector<unsigned char> bytes;
  int deleted = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  unimem::fuzz::input in(data, size);
  producer p;
  DLManagedTensor managed{};
  DLTensor& t = managed.dl_tensor;
  t.ndim = in.take<std::int32_t>();
  const auto flags = in.take<std::uint8_t>();
  t.dtype.code = in.take<std::uint8_t>() % 8;
  t.dtype.bits = in.take<std::uint8_t>();
  t.dtype.lanes = in.take<std::uint16_t>();
  t.device.device_type = static_cast<DLDeviceType>(in.take<std::uint8_t>() % 16);
  t.device.device_id = in.take<std::int32_t>();
  t.byte_offset = in.take<std::uint64_t>();
  // The arrays: as long as ndim says when that is small, else a fixed room ndim overstates.
  const std::size_t n = t.ndim >= 0 && static_cast<std::size_t>(t.ndim) <= array_room ? static_cast<std::size_t>(t.ndim)
                                                                                        : array_room;
  p.shape.resize(n);
  p.strides.resize(n);
  for (auto& e : p.shape) e = (flags & 1) != 0 ? in.take<std::int64_t>() : in.take<std::uint8_t>() % 5;
  for (auto& s : p.strides) s = (flags & 2) != 0 ? in.take<std::int64_t>() : in.take<std::uint8_t>() % 64;
  p.bytes.resize(256);
  t.shape = (flags & 4) != 0 ? nullptr : p.shape.data();
  t.strides = (flags & 8) != 0 ? nullptr : p.strides.data();
  t.data = (flags & 16) != 0 ? nullptr : p.bytes.data();
  managed.manager_ctx = &p;
  managed.deleter = [](DLManagedTensor* self) { ++static_cast<producer*>(self->manager_ctx)->deleted; };

  try {
    const unimem::dlpack_tensor imported = unimem::from_dlpack(&managed);
    // A consistent description: the element count is the product of the extents, the strides
    // exist for every dimension, and asking about contiguity overflows nothing.
    if (imported.rank() != static_cast<std::size_t>(t.ndim)) fail("fuzz_dlpack", "rank differs from ndim");
    if (imported.strides().size() != imported.rank()) fail("fuzz_dlpack", "a stride per dimension");
    std::uint64_t count = 1;
    for (const std::int64_t e : imported.shape()) {
      if (e < 0) fail("fuzz_dlpack", "a negative extent was imported");
      count *= static_cast<std::uint64_t>(e);  // fits: the import checked the product
    }
    if (count != imported.size()) fail("fuzz_dlpack", "size() is not the product of the extents");
    if (count != 0 && imported.data() == nullptr) fail("fuzz_dlpack", "null data with elements");
    (void)imported.is_contiguous();
    if (imported.element_type() == unimem::dtype::f32 && imported.rank() == 2) {
      const auto v = imported.view<const float, 2>();
      (void)v.required_span_size();
      (void)v.is_contiguous();
    }
  } catch (const std::invalid_argument&) {
  } catch (const std::overflow_error&) {
  } catch (const unimem::unsupported_error&) {
  }
  if (p.deleted != 1) fail("fuzz_dlpack", "the producer's deleter did not run exactly once");
  return 0;
}

#include "peers.hpp"

#include <cstdint>
#include <string>

#include <cub/util_allocator.cuh>
#include <cuda_runtime_api.h>

#include <unimem/error.hpp>

namespace unimem::replay {
namespace {

[[noreturn]] void fail(cudaError_t err, const char* call, std::size_t bytes, const char* who) {
  cudaGetLastError();
  if (err == cudaErrorMemoryAllocation) throw out_of_memory(bytes, who, "the device is full");
  throw cuda_error(call, static_cast<int>(err));
}

/// cub's caching allocator as a memory_resource. It keeps freed blocks per bin (and per stream,
/// until an event says the stream is done with them).
class cub_resource final : public memory_resource {
 public:
  explicit cub_resource(bool power_of_two)
      : alloc_(power_of_two ? cub::CachingDeviceAllocator(2u, 8u, 40u, cub::CachingDeviceAllocator::INVALID_SIZE)
                            : cub::CachingDeviceAllocator()),
        name_(power_of_two ? "cub::CachingDeviceAllocator(pow2 bins)" : "cub::CachingDeviceAllocator(default)") {
    cudaGetDevice(&device_);
  }
  ~cub_resource() override { alloc_.FreeAllCached(); }
  std::size_t held() {
    auto it = alloc_.cached_bytes.find(device_);
    return it == alloc_.cached_bytes.end() ? 0 : it->second.free + it->second.live;
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t, stream_view stream) override {
    void* p = nullptr;
    const cudaError_t err = alloc_.DeviceAllocate(&p, bytes, stream.value());
    if (err != cudaSuccess) fail(err, "cub::CachingDeviceAllocator::DeviceAllocate", bytes, name_);
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t, stream_view) override {
    const cudaError_t err = alloc_.DeviceFree(p);
    if (err != cudaSuccess) fail(err, "cub::CachingDeviceAllocator::DeviceFree", bytes, name_);
  }
  resource_traits do_traits() const noexcept override { return {memory_kind::device, false, true, false}; }
  std::string_view do_name() const noexcept override { return name_; }

  cub::CachingDeviceAllocator alloc_;
  const char* name_;
  int device_ = 0;
};

class cub_instance final : public replay_instance {
 public:
  explicit cub_instance(bool pow2) : r_(pow2) {}
  memory_resource& resource() override { return r_; }
  std::size_t peak_reserved_bytes() override { return peak_; }
  void after_call() override { peak_ = std::max(peak_, r_.held()); }

 private:
  cub_resource r_;
  std::size_t peak_ = 0;
};

/// A fresh stream-ordered pool that keeps everything it reserved (release threshold = max).
class mempool_resource final : public memory_resource {
 public:
  mempool_resource() {
    int device = 0;
    cudaGetDevice(&device);
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    cudaError_t err = cudaMemPoolCreate(&pool_, &props);
    if (err != cudaSuccess) fail(err, "cudaMemPoolCreate", 0, "cudaMemPool");
    std::uint64_t threshold = UINT64_MAX;
    err = cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold);
    if (err != cudaSuccess) fail(err, "cudaMemPoolSetAttribute(cudaMemPoolAttrReleaseThreshold)", 0, "cudaMemPool");
  }
  ~mempool_resource() override {
    cudaDeviceSynchronize();
    cudaMemPoolDestroy(pool_);
  }
  std::size_t reserved_high() const {
    std::uint64_t v = 0;
    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemHigh, &v);
    return static_cast<std::size_t>(v);
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t, stream_view stream) override {
    void* p = nullptr;
    const cudaError_t err = cudaMallocFromPoolAsync(&p, bytes, pool_, stream.value());
    if (err != cudaSuccess) fail(err, "cudaMallocFromPoolAsync", bytes, "cudaMemPool");
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t, stream_view stream) override {
    const cudaError_t err = cudaFreeAsync(p, stream.value());
    if (err != cudaSuccess) fail(err, "cudaFreeAsync", bytes, "cudaMemPool");
  }
  resource_traits do_traits() const noexcept override { return {memory_kind::device, false, true, false}; }
  std::string_view do_name() const noexcept override { return "cudaMemPool"; }

  cudaMemPool_t pool_ = nullptr;
};

class mempool_instance final : public replay_instance {
 public:
  memory_resource& resource() override { return r_; }
  std::size_t peak_reserved_bytes() override { return r_.reserved_high(); }
  void finish() override { cudaDeviceSynchronize(); }

 private:
  mempool_resource r_;
};

}  // namespace

void add_cuda_peers(std::vector<replay_target>& t) {
  t.push_back({"cub_default", "cub::CachingDeviceAllocator() (bin growth 8, bins 512 B..2 MiB, 6 MiB cache)", true,
               [] { return std::make_unique<cub_instance>(false); }});
  t.push_back({"cub_pow2", "cub::CachingDeviceAllocator(2, 8, 40, unlimited): power-of-two bins from 256 B", true,
               [] { return std::make_unique<cub_instance>(true); }});
  t.push_back({"cuda_mempool", "a fresh cudaMemPool, cudaMallocFromPoolAsync / cudaFreeAsync, release threshold max",
               true, [] { return std::make_unique<mempool_instance>(); }});
}

}  // namespace unimem::replay

#include "cuda_device_ops.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/device_profile.hpp>
#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/resources/policy.hpp>

namespace unimem::torch_allocator {

namespace {

void check(cudaError_t err, const std::string& call) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear the runtime's sticky slot so PyTorch does not see our failure later
  throw cuda_error(call, static_cast<int>(err), "is the device ordinal valid and the driver loaded?");
}

/// The CUDA calls both kinds of ops share.
class cuda_ops_base : public device_ops {
 public:
  int current_device() override {
    int d = -1;
    check(cudaGetDevice(&d), "cudaGetDevice");
    return d;
  }
  void set_device(int device) override { check(cudaSetDevice(device), fmt::format("cudaSetDevice({})", device)); }
  bool shutting_down(const std::exception& e) const noexcept override {
    const auto* c = dynamic_cast<const cuda_error*>(&e);
    if (c == nullptr) return false;
    return c->code() == cudaErrorCudartUnloading || c->code() == cudaErrorContextIsDestroyed ||
           c->code() == cudaErrorDeviceUninitialized;
  }
};

class allocator_ops final : public cuda_ops_base {
 public:
  explicit allocator_ops(upstream_choice choice) : choice_(choice) {}

  std::unique_ptr<memory_resource> make_upstream(int device, std::string& note) override {
    const device_profile profile = device_profile::query(device);
    memory_kind kind = memory_kind::device;
    switch (choice_) {
      case upstream_choice::device: note = "UNIMEM_TORCH_UPSTREAM=device"; break;
      case upstream_choice::managed:
        kind = memory_kind::managed;
        note = "UNIMEM_TORCH_UPSTREAM=managed";
        break;
      case upstream_choice::policy: {
        const recommendation r = recommend(profile, access_pattern::gpu_scratch);
        kind = r.kind;
        note = "UNIMEM_TORCH_UPSTREAM=policy on " + profile.name + ": " + r.reason;
        break;
      }
    }
    std::unique_ptr<memory_resource> mr = kind == memory_kind::managed
                                               ? std::make_unique<managed_resource>(managed_attach::global, profile)
                                               : make_resource(kind, profile);
    const resource_traits t = mr->traits();
    // PyTorch hands the pointer to kernels as it is.
    if (!t.device_accessible || (t.kind != memory_kind::device && !t.device_pointer_is_host_pointer)) {
      throw unsupported_error(fmt::format(
          "unimem_torch: {} memory on {} cannot back PyTorch's CUDA tensors (kernels cannot use its pointer); "
          "set UNIMEM_TORCH_UPSTREAM=device",
          to_string(t.kind), profile.name));
    }
    return mr;
  }

 private:
  upstream_choice choice_;
};

class kind_ops final : public cuda_ops_base {
 public:
  explicit kind_ops(memory_kind kind) : kind_(kind) {}
  std::unique_ptr<memory_resource> make_upstream(int device, std::string& note) override {
    note = fmt::format("unimem.empty(kind='{}')", to_string(kind_));
    const device_profile profile = device_profile::query(device);
    if (kind_ == memory_kind::managed) return std::make_unique<managed_resource>(managed_attach::global, profile);
    return make_resource(kind_, profile);
  }

 private:
  memory_kind kind_;
};

/// Host memory: every tensor lives in slot 0, and no CUDA call is made (works without a GPU).
class host_ops final : public device_ops {
 public:
  int current_device() override { return 0; }
  void set_device(int) override {}
  std::unique_ptr<memory_resource> make_upstream(int, std::string& note) override {
    note = "unimem.empty(kind='host')";
    return std::make_unique<host_resource>();
  }
  bool shutting_down(const std::exception&) const noexcept override { return false; }
};

}  // namespace

std::unique_ptr<device_ops> make_cuda_device_ops(upstream_choice choice) { return std::make_unique<allocator_ops>(choice); }

std::unique_ptr<device_ops> make_kind_device_ops(memory_kind kind) {
  if (kind == memory_kind::host) return std::make_unique<host_ops>();
  return std::make_unique<kind_ops>(kind);
}

std::optional<memory_kind> memory_kind_from_name(std::string_view name) noexcept {
  for (memory_kind k : {memory_kind::host, memory_kind::pinned, memory_kind::mapped, memory_kind::registered,
                        memory_kind::device, memory_kind::managed}) {
    if (to_string(k) == name) return k;
  }
  return std::nullopt;
}

}  // namespace unimem::torch_allocator

#include <unimem_support/cuda.hpp>

#include <unimem/error.hpp>

namespace unimem::support {

void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw cuda_error(call, static_cast<int>(err));
  }
}

double stream_stopwatch::seconds() const {
  stop_.synchronize();
  return static_cast<double>(stop_.elapsed_ms(start_)) / 1e3;
}

std::vector<double> time_on_stream(stream_view s, int repetitions, const std::function<void()>& work) {
  stream_stopwatch watch;
  work();
  s.synchronize();
  std::vector<double> seconds;
  seconds.reserve(static_cast<std::size_t>(repetitions > 0 ? repetitions : 0));
  for (int i = 0; i < repetitions; ++i) {
    watch.start(s);
    work();
    watch.stop(s);
    seconds.push_back(watch.seconds());
  }
  return seconds;
}

}  // namespace unimem::support

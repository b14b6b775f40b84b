#include <unimem/error.hpp>

#include <algorithm>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

namespace unimem {
namespace {

std::string cuda_message(const std::string& call, int code, const std::string& hint) {
  auto err = static_cast<cudaError_t>(code);
  std::string msg = fmt::format("{} failed: {} ({})", call, cudaGetErrorName(err), cudaGetErrorString(err));
  if (!hint.empty()) msg += fmt::format(" \u2014 {}", hint);
  return msg;
}

}  // namespace

cuda_error::cuda_error(std::string call, int code, std::string hint)
    : std::runtime_error(cuda_message(call, code, hint)),
      call_(std::move(call)),
      code_(code),
      name_(cudaGetErrorName(static_cast<cudaError_t>(code))),
      text_(cudaGetErrorString(static_cast<cudaError_t>(code))) {}

out_of_memory::out_of_memory(std::size_t requested_bytes, std::string resource, std::string hint)
    : requested_bytes_(requested_bytes),
      resource_(std::move(resource)),
      hint_(std::move(hint)),
      message_(fmt::format("{}: out of memory allocating {} B{}{}", resource_, requested_bytes_,
                           hint_.empty() ? "" : " \u2014 ", hint_)) {}

std::string printable(std::string_view text, std::size_t max_chars) {
  std::string out;
  const std::size_t n = std::min(text.size(), max_chars);
  out.reserve(n);
  for (std::size_t i = 0; i < n;) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    // Well-formed UTF-8 passes (RFC 3629: no overlong forms, no surrogates, nothing above
    // U+10FFFF), but not the C1 controls (U+0080..U+009F) that some terminals obey.
    const std::size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool utf8 = len != 0 && i + len <= n;
    if (utf8) {
      const auto second = static_cast<unsigned char>(text[i + 1]);
      const unsigned char lo = c == 0xc2 ? 0xa0 : c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
      utf8 = second >= lo && second <= hi;
    }
    for (std::size_t k = 2; utf8 && k < len; ++k) utf8 = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (utf8) {
      out.append(text.data() + i, len);
      i += len;
    } else {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    }
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

}  // namespace unimem

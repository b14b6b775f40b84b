// libFuzzer target: the tools' option parsing (unimem_support's parse_unsigned, parse_signed,
// parse_number, option_value). A value is accepted exactly when it is a plain decimal integer
// inside the range, and then it is that integer; everything else is a usage_error whose message
// holds no control character (it is printed on the user's terminal).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <unimem_support/cli.hpp>

#include "fuzz_input.hpp"

namespace {

using unimem::fuzz::fail;
namespace support = unimem::support;

/// The reference: digits only (and one leading '-' when signed), parsed by hand in 128 bits.
bool reference(const std::string& s, bool is_signed, __int128& out) {
  if (s.empty()) return false;
  std::size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    if (!is_signed) return false;
    negative = true;
    i = 1;
  }
  if (i == s.size()) return false;
  __int128 v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
    if (v > (static_cast<__int128>(1) << 65)) v = static_cast<__int128>(1) << 65;  // far outside any range
  }
  out = negative ? -v : v;
  return true;
}

void check_message(const std::string& m) {
  for (const char c : m) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) fail("fuzz_cli", "a control character in a message: " + m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  unimem::fuzz::input in(data, size);
  const auto umin = in.take<std::uint64_t>(), umax = in.take<std::uint64_t>();
  const auto smin = in.take<std::int64_t>(), smax = in.take<std::int64_t>();
  const std::string option = in.take_string(in.take<std::uint8_t>() % 32);
  const std::string text(in.rest());

  __int128 want = 0;
  const bool u_ok = reference(text, false, want) && want >= umin && want <= umax;
  try {
    const std::uint64_t got = support::parse_unsigned(option, text, umin, umax);
    if (!u_ok || static_cast<__int128>(got) != want) fail("fuzz_cli", "parse_unsigned accepted '" + text + "'");
  } catch (const support::usage_error& e) {
    if (u_ok) fail("fuzz_cli", "parse_unsigned refused '" + text + "'");
    check_message(e.what());
  }
  const bool s_ok = reference(text, true, want) && want >= smin && want <= smax;
  try {
    const std::int64_t got = support::parse_signed(option, text, smin, smax);
    if (!s_ok || static_cast<__int128>(got) != want) fail("fuzz_cli", "parse_signed accepted '" + text + "'");
  } catch (const support::usage_error& e) {
    if (s_ok) fail("fuzz_cli", "parse_signed refused '" + text + "'");
    check_message(e.what());
  }
  try {
    (void)support::parse_number<int>(option, text, 0);
    (void)support::parse_number<std::uint16_t>(option, text);
  } catch (const support::usage_error& e) {
    check_message(e.what());
  }
  // option_value over an argv cut from the text: never reads past argc.
  std::vector<std::string> words;
  for (std::size_t i = 0, j = 0; i <= text.size(); i = j + 1) {
    j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    words.push_back(text.substr(i, j - i));
    if (words.size() == 8) break;
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(words.size());
  for (int i = 0; i < argc; ++i) {
    int k = i;
    try {
      const char* v = support::option_value(argc, argv.data(), k);
      if (k != i + 1 || v != argv[static_cast<std::size_t>(i) + 1]) fail("fuzz_cli", "option_value took the wrong value");
    } catch (const support::usage_error& e) {
      if (i + 1 < argc) fail("fuzz_cli", "option_value refused a present value");
      check_message(e.what());
    }
  }
  return 0;
}

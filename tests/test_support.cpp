// unimem_support, what the tools, benchmarks and tests share: strict option numbers, JSON
// writing, percentiles; and unimem::printable, which every error and tool uses to quote input.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem_support/cli.hpp>
#include <unimem_support/json.hpp>
#include <unimem_support/stats.hpp>

#include "support/test_upstreams.hpp"

namespace unimem::test {
namespace {

using support::parse_number;
using support::parse_signed;
using support::parse_unsigned;

std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const support::usage_error& e) {
    return e.what();
  }
  return "(accepted)";
}

// Issue 12 row 13: atoi and strtoull took "3abc" as 3 and 2^64-1 as whatever it wrapped to.
TEST(support_cli, numbers_are_parsed_strictly) {
  EXPECT_EQ(parse_unsigned("--n", "0"), 0u);
  EXPECT_EQ(parse_unsigned("--n", "007"), 7u);
  EXPECT_EQ(parse_unsigned("--n", "18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(parse_signed("--n", "-5", -10, 10), -5);
  EXPECT_EQ(parse_number<int>("--device", "3", 0), 3);

  EXPECT_EQ(refusal([] { parse_number<int>("--repetitions", "3abc", 2, 100); }),
            "--repetitions \"3abc\": not a whole number; give an integer from 2 to 100");
  EXPECT_EQ(refusal([] { parse_unsigned("--interval-ms", "18446744073709551615", 0, 86400000); }),
            "--interval-ms \"18446744073709551615\": too large; give an integer from 0 to 86400000");
  EXPECT_EQ(refusal([] { parse_unsigned("--count", "18446744073709551616"); }),
            "--count \"18446744073709551616\": too large; give an integer from 0 to 18446744073709551615");
  EXPECT_EQ(refusal([] { parse_number<int>("--device", "-5", 0); }),
            "--device \"-5\": negative; give an integer from 0 to 2147483647");
  EXPECT_NE(refusal([] { parse_unsigned("--count", "-0"); }).find("\"-0\": negative"), std::string::npos);
  EXPECT_NE(refusal([] { parse_number<int>("--device", "2147483648", 0); }).find("too large"), std::string::npos);
  EXPECT_NE(refusal([] { parse_signed("--n", "-9223372036854775809", -10, 10); }).find("too small"), std::string::npos);
  EXPECT_NE(refusal([] { parse_number<int>("--repetitions", "1", 2, 100); }).find("\"1\": too small"), std::string::npos);
  for (const char* bad : {"", " 5", "5 ", "+5", "0x10", "1e3", "5.0", "-", "--5", "٣"}) {
    SCOPED_TRACE(bad);
    EXPECT_NE(refusal([&] { parse_unsigned("--n", bad); }), "(accepted)");
    EXPECT_NE(refusal([&] { parse_signed("--n", bad, -100, 100); }).find("--n \""), std::string::npos);
  }
  EXPECT_NE(refusal([] { parse_unsigned("--n", ""); }).find("\"\": empty"), std::string::npos);
  const std::string nul("5\0", 2);
  EXPECT_EQ(refusal([&] { parse_unsigned("--n", nul); }),
            "--n \"5\\x00\": contains a NUL byte; give an integer from 0 to 18446744073709551615");
}

TEST(support_cli, an_option_without_its_value_is_refused) {
  char prog[] = "tool", opt[] = "--resource", val[] = "pool_host";
  char* with[] = {prog, opt, val};
  int i = 1;
  EXPECT_STREQ(support::option_value(3, with, i), "pool_host");
  EXPECT_EQ(i, 2);
  char* trailing[] = {prog, opt};
  i = 1;
  EXPECT_EQ(refusal([&] { support::option_value(2, trailing, i); }), "--resource needs a value");
}

TEST(support_json, strings_are_escaped_in_full) {
  EXPECT_EQ(support::json_string("plain"), "\"plain\"");
  EXPECT_EQ(support::json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(support::json_string("new\nline\ttab\x1b\x7f"), "\"new\\u000aline\\u0009tab\\u001b\\u007f\"");
  EXPECT_EQ(support::json_string(std::string("nul\0", 4)), "\"nul\\u0000\"");
  EXPECT_EQ(support::json_string("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"") << "UTF-8 passes";
  EXPECT_EQ(support::json_string("bad\xff\xc3"), "\"bad\\ufffd\\ufffd\"") << "not UTF-8: replaced";
  EXPECT_EQ(support::json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"") << "a surrogate is not UTF-8";
}

TEST(support_json, non_finite_numbers_are_null) {
  EXPECT_EQ(support::json_number(1.25, 1), "1.2");
  EXPECT_EQ(support::json_number(std::numeric_limits<double>::infinity(), 1), "null");
  EXPECT_EQ(support::json_number(std::nan(""), 4), "null");
  support::json_object o;
  o.add("name", "x\ny").add("n", std::size_t{3}).add("neg", -2).add("ok", true).add("t", std::nan(""), 1);
  o.add_null("none").add_raw("list", "[1, 2]").add_fields("\"extra\": 1").add_fields("");
  EXPECT_EQ(o.str(),
            "{\"name\": \"x\\u000ay\", \"n\": 3, \"neg\": -2, \"ok\": true, \"t\": null, \"none\": null, "
            "\"list\": [1, 2], \"extra\": 1}");
  EXPECT_EQ(support::json_object().add_fields("\"a\": 1").str(), "{\"a\": 1}");
}

TEST(support_stats, percentiles_interpolate_between_ranks) {
  std::vector<double> v = {5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(support::percentile(v, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(support::percentile(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(support::percentile(v, 1.0), 5.0);
  EXPECT_DOUBLE_EQ(support::percentile(v, 0.25), 2.0);
  EXPECT_DOUBLE_EQ(support::percentile(v, 0.9), 4.6);
  EXPECT_DOUBLE_EQ(support::median({4, 1, 3, 2}), 2.5) << "an even count: the mean of the two middle values";
  EXPECT_DOUBLE_EQ(support::median({7}), 7.0);
  EXPECT_TRUE(std::isnan(support::median({})));
  std::vector<double> w = {1, 2};
  EXPECT_THROW(support::percentile(w, 1.5), std::invalid_argument);
  EXPECT_THROW(support::percentile(w, std::nan("")), std::invalid_argument);
}

TEST(printable, escapes_what_could_drive_a_terminal) {
  EXPECT_EQ(printable("trace.csv"), "trace.csv");
  EXPECT_EQ(printable("a\nb\x1b[2J\x7f"), "a\\x0ab\\x1b[2J\\x7f");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(printable("c1\xc2\x9b"), "c1\\xc2\\x9b") << "U+009B (CSI) is a control";
  EXPECT_EQ(printable("bad\xff"), "bad\\xff");
  EXPECT_EQ(printable(std::string(300, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(printable("\xe2\x82", 10), "\\xe2\\x82") << "a cut sequence is not UTF-8";
  // Ill-formed UTF-8 that lenient decoders turn into controls: overlong ESC, a surrogate, > U+10FFFF.
  EXPECT_EQ(printable("\xe0\x80\x9b"), "\\xe0\\x80\\x9b");
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(printable("\xf0\x9f\x99\x82 \xe2\x82\xac"), "\xf0\x9f\x99\x82 \xe2\x82\xac") << "valid ones pass";
}

}  // namespace
}  // namespace unimem::test

// The allocation-trace format (trace.hpp): its one reader and writer, the hostile input it must
// refuse, and the conversion to tensor lifetimes that the planner reads.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include <unimem/planning/planner.hpp>
#include <unimem/trace.hpp>

#include "support/test_upstreams.hpp"

namespace unimem::test {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();

std::string error_of(std::string_view text, const std::string& name = "t") {
  return what_of([&] { parse_trace(text, name); });
}

/// A file in the temporary folder, removed at the end of the test.
class temp_file {
 public:
  explicit temp_file(const std::string& name) : path_(fs::temp_directory_path() / ("unimem_test_trace_" + name)) {}
  temp_file(const std::string& name, std::string_view contents) : temp_file(name) {
    std::ofstream out(path_, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void expect_same(const alloc_trace& a, const alloc_trace& b) {
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (std::size_t i = 0; i < a.ops.size(); ++i) {
    EXPECT_EQ(a.ops[i].is_alloc, b.ops[i].is_alloc) << "op " << i;
    EXPECT_EQ(a.ops[i].id, b.ops[i].id) << "op " << i;
    EXPECT_EQ(a.ops[i].bytes, b.ops[i].bytes) << "op " << i;
    EXPECT_EQ(a.ops[i].stream, b.ops[i].stream) << "op " << i;
  }
  EXPECT_EQ(a.file_ids, b.file_ids);
  EXPECT_EQ(a.file_streams, b.file_streams);
}

TEST(trace, parse_reports_bad_lines_by_number) {
  EXPECT_NE(error_of("").find("t: empty"), std::string::npos);
  EXPECT_NE(error_of("\n\n").find("t: empty"), std::string::npos);
  EXPECT_NE(error_of("op,id,size\n").find("t:1: the header is \"op,id,size\""), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\nx,0,1,0\n").find("t:2: op \"x\""), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,0,-1,0\n").find("t:2: bytes \"-1\" is not an integer from 0 to"),
            std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\nf,3,1,0\n").find("t:2: free of id 3 which is not live"), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,3,1,0\na,3,1,0\n").find("t:3: allocate of id 3 while that id is still "
                                                                    "live (allocated on line 2)"),
            std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,3,1,0\nf,3,2,0\n").find("line 2 allocated it with 1 B"), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,3,1\n").find("has 3 fields; expected 4"), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,3,1,0,9\n").find("has 5 fields; expected 4"), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na, 3,1,0\n").find("id \" 3\""), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,+3,1,0\n").find("id \"+3\""), std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,3,,0\n").find("bytes \"\""), std::string::npos);
  const alloc_trace ok = parse_trace("op,id,bytes,stream\r\na,7,10,0\r\na,2,5,1\r\nf,7,10,0\r\n", "crlf");
  EXPECT_EQ(ok.ops.size(), 3u);
  EXPECT_EQ(ok.id_bound(), 2u) << "ids are renumbered densely";
  EXPECT_EQ(ok.allocation_count(), 2u);
  EXPECT_EQ(ok.peak_live_bytes(), 15u);
}

// One rule for the header: exactly one of the two, no other or reordered columns.
TEST(trace, the_header_is_one_of_two_exactly) {
  for (const char* header : {"op,bytes,id,stream", "op,id,bytes,stream,extra", "OP,ID,BYTES,STREAM", " op,id,bytes",
                             "op,id,bytes,", "tensor,first_op,last_op,bytes"}) {
    SCOPED_TRACE(header);
    EXPECT_NE(error_of(std::string(header) + "\na,1,1,0\n").find("t:1: the header is"), std::string::npos);
  }
  EXPECT_EQ(parse_trace("\n\nop,id,bytes,stream\n\na,1,1,0\n\n").ops.size(), 1u) << "blank lines are skipped";
}

TEST(trace, the_stream_column_is_optional) {
  const alloc_trace t = parse_trace("op,id,bytes\na,1,100\na,2,50\nf,1,100\n", "no_stream");
  ASSERT_EQ(t.ops.size(), 3u);
  for (const trace_op& op : t.ops) EXPECT_EQ(op.stream, 0u);
  EXPECT_EQ(t.stream_count(), 1u);
  EXPECT_EQ(t.file_streams, std::vector<std::uint32_t>{0});
  EXPECT_EQ(t.peak_live_bytes(), 150u);
  EXPECT_NE(error_of("op,id,bytes\na,1,100,0\n").find("t:2: \"a,1,100,0\" has 4 fields; expected 3"),
            std::string::npos);
}

// Issue 12 row 1: an id of 2^64-1 made replay compute id+1 = 0 and index out of bounds.
TEST(trace, ids_and_streams_cover_their_whole_range_and_are_renumbered_densely) {
  const alloc_trace t = parse_trace(
      "op,id,bytes,stream\n"
      "a,18446744073709551615,10,0\n"
      "a,500000000,5,4294967295\n"
      "a,0,7,4294967295\n"
      "f,18446744073709551615,10,7\n"
      "f,0,7,0\n"
      "a,0,3,7\n",
      "wide");
  ASSERT_EQ(t.ops.size(), 6u);
  EXPECT_EQ(t.id_bound(), 4u);
  EXPECT_EQ(t.allocation_count(), 4u);
  EXPECT_EQ(t.file_ids, (std::vector<std::uint64_t>{max_u64, 500000000, 0, 0}));
  EXPECT_EQ(t.ops[3].id, 0u) << "the free names its allocation's dense id";
  EXPECT_EQ(t.ops[4].id, 2u);
  EXPECT_EQ(t.ops[5].id, 3u) << "a reused file id is a new allocation";
  EXPECT_EQ(t.stream_count(), 3u);
  EXPECT_EQ(t.file_streams, (std::vector<std::uint32_t>{0, 4294967295u, 7}));
  EXPECT_EQ(t.ops[1].stream, 1u);
  EXPECT_EQ(t.ops[3].stream, 2u);
  EXPECT_EQ(t.peak_live_bytes(), 22u);

  EXPECT_NE(error_of("op,id,bytes,stream\na,18446744073709551616,1,0\n")
                .find("t:2: id \"18446744073709551616\" is not an integer from 0 to 18446744073709551615"),
            std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,1,1,4294967296\n")
                .find("t:2: stream \"4294967296\" is not an integer from 0 to 4294967295"),
            std::string::npos);
  EXPECT_NE(error_of("op,id,bytes,stream\na,1,18446744073709551616,0\n").find("bytes \"18446744073709551616\""),
            std::string::npos);
}

// Issue 12 row 2: tables were indexed by the file's ids, so one id of 500000000 cost 4 GB.
TEST(trace, a_huge_id_needs_a_table_of_one_entry) {
  const alloc_trace t = parse_trace("op,id,bytes,stream\na,500000000,64,0\nf,500000000,64,0\n");
  EXPECT_EQ(t.id_bound(), 1u);
  EXPECT_EQ(t.stream_count(), 1u);
}

TEST(trace, live_bytes_beyond_the_range_are_refused) {
  EXPECT_NE(error_of("op,id,bytes,stream\na,1,18446744073709551615,0\na,2,1,0\n").find("t:3: allocate of 1 B while "),
            std::string::npos);
  const alloc_trace one = parse_trace("op,id,bytes,stream\na,1,18446744073709551615,0\n");
  EXPECT_EQ(one.peak_live_bytes(), max_u64);
}

// One rule everywhere: zero-byte allocations are allocations; a free repeats its allocation's bytes.
TEST(trace, zero_byte_allocations_are_allowed_and_frees_repeat_the_bytes) {
  const alloc_trace t = parse_trace("op,id,bytes\na,1,0\na,2,8\nf,1,0\n");
  EXPECT_EQ(t.allocation_count(), 2u);
  EXPECT_EQ(t.peak_live_bytes(), 8u);
  EXPECT_NE(error_of("op,id,bytes\na,1,10\nf,1,0\n").find("free of id 1 with 0 B, but line 2 allocated it with 10 B"),
            std::string::npos);
  std::istringstream planner_input("op,id,bytes\na,1,10\nf,1,0\n");
  EXPECT_THROW(parse_alloc_trace(planner_input, "p.csv"), std::runtime_error) << "the planner reads the same rules";
}

TEST(trace, allocations_live_at_the_end_are_allowed) {
  const alloc_trace t = parse_trace("op,id,bytes,stream\na,1,100,0\na,2,50,0\nf,2,50,0\n");
  EXPECT_EQ(t.ops.size(), 3u);
  EXPECT_EQ(t.peak_live_bytes(), 150u);
  const alloc_trace header_only = parse_trace("op,id,bytes,stream\n");
  EXPECT_TRUE(header_only.ops.empty());
  EXPECT_EQ(header_only.id_bound(), 0u);
  EXPECT_EQ(header_only.peak_live_bytes(), 0u);
}

TEST(trace, names_and_values_in_errors_are_printable) {
  const std::string e = error_of("op,id,bytes,stream\na,ab\xc2\x9b[2J,1,0\n", "evil\nname");
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  EXPECT_EQ(e.find('\x9b'), std::string::npos) << e;
  EXPECT_NE(e.find("evil\\x0aname:2: id \"ab\\xc2\\x9b[2J\""), std::string::npos) << e;
  const std::string esc = error_of("op,id,bytes,stream\na,\x1b[2J,1,0\n", "t");
  EXPECT_NE(esc.find("t:2: byte 0x1b at column 3 is not text"), std::string::npos) << esc;
}

// Issue 12 row 2: /dev/zero was read until bad_alloc, naming no file.
TEST(trace, binary_input_and_over_long_lines_are_refused_at_once) {
  EXPECT_NE(what_of([] { load_trace("/dev/zero"); }).find("/dev/zero:1: byte 0x00 at column 1 is not text"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("op,id,bytes,stream\na,1,1,0\0\n", 28)).find("t:2: byte 0x00 at column 8"),
            std::string::npos);
  const std::string long_line = "op,id,bytes,stream\n" + std::string(5000, '1') + "\n";
  EXPECT_NE(error_of(long_line).find("t:2: the line is longer than 4096 bytes"), std::string::npos);
  const std::string endless = "op,id,bytes,stream\na," + std::string(100000, '7');
  EXPECT_NE(error_of(endless).find("t:2: the line is longer than 4096 bytes"), std::string::npos);
  const std::string gz("\x1f\x8b\x08\x00", 4);
  EXPECT_NE(error_of(gz).find("gzip-compressed data"), std::string::npos);
  EXPECT_NE(what_of([] { load_trace("/"); }).find("/: is a folder"), std::string::npos);
  EXPECT_NE(what_of([] { load_trace("/nonexistent/trace.csv"); }).find("/nonexistent/trace.csv: cannot open"),
            std::string::npos);
  EXPECT_NE(what_of([] { load_tensor_lifetimes("/dev/zero"); }).find("/dev/zero:1: byte 0x00"), std::string::npos);
  EXPECT_NE(what_of([] { load_trace("/dev/urandom"); }).find("/dev/urandom:"), std::string::npos);
  // "/dev/zero\0.csv" must not open /dev/zero: the name is refused as given (escaped).
  EXPECT_NE(what_of([] { load_trace(std::string("/dev/zero\0.csv", 14)); })
                .find("/dev/zero\\x00.csv: the path contains a NUL byte"),
            std::string::npos);
}

TEST(trace, round_trips_through_text_plain_files_and_gzip) {
  const alloc_trace t = parse_trace(
      "op,id,bytes,stream\na,18446744073709551615,10,3\na,5,0,0\nf,18446744073709551615,10,4294967295\n", "rt");
  std::ostringstream text;
  write_trace(text, t);
  EXPECT_EQ(text.str(), "op,id,bytes,stream\na,18446744073709551615,10,3\na,5,0,0\nf,18446744073709551615,10,4294967295\n");
  expect_same(parse_trace(text.str()), t);

  for (const char* name : {"rt.csv", "rt.csv.gz"}) {
    temp_file file(name);
    save_trace(file.str(), t);
    const alloc_trace back = load_trace(file.str());
    EXPECT_EQ(back.name, "unimem_test_trace_rt") << "the file name without folder, .gz and .csv";
    expect_same(back, t);
    std::ifstream raw(file.str(), std::ios::binary);
    const int first = raw.get();
    EXPECT_EQ(first == 0x1f, std::string(name).find(".gz") != std::string::npos) << "gzip only for .gz";
  }
}

TEST(trace, a_shared_trace_round_trips_and_its_lifetimes_match) {
  const std::string path = std::string(UNIMEM_TEST_DATA_DIR) + "/../../data/workload-traces/two_models_two_streams.csv.gz";
  const alloc_trace t = load_trace(path);
  EXPECT_EQ(t.name, "two_models_two_streams");
  EXPECT_EQ(t.stream_count(), 3u);
  EXPECT_EQ(t.id_bound(), t.allocation_count());
  temp_file file("shared.csv.gz");
  save_trace(file.str(), t);
  expect_same(load_trace(file.str()), t);

  const std::vector<tensor_lifetime> lifetimes = tensor_lifetimes(t);
  ASSERT_EQ(lifetimes.size(), t.allocation_count());
  EXPECT_EQ(lower_bound_bytes(lifetimes), t.peak_live_bytes());
  const std::vector<tensor_lifetime> loaded = load_tensor_lifetimes(path);
  ASSERT_EQ(loaded.size(), lifetimes.size());
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    EXPECT_EQ(loaded[i].first_op, lifetimes[i].first_op);
    EXPECT_EQ(loaded[i].last_op, lifetimes[i].last_op);
    EXPECT_EQ(loaded[i].bytes, lifetimes[i].bytes);
  }
}

TEST(trace, a_truncated_gzip_file_is_an_error) {
  const std::string path = std::string(UNIMEM_TEST_DATA_DIR) + "/../../data/alloc-traces/resnet50_b1_float32.csv.gz";
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 100u);
  temp_file cut("cut.csv.gz", std::string_view(bytes).substr(0, bytes.size() / 2));
  EXPECT_NE(what_of([&] { load_trace(cut.str()); }).find("reading failed"), std::string::npos);
}

TEST(trace, lifetimes_do_not_depend_on_the_file_ids) {
  const alloc_trace small = parse_trace("op,id,bytes\na,0,100\na,1,50\nf,0,100\na,2,70\nf,2,70\n");
  const alloc_trace huge = parse_trace(
      "op,id,bytes\na,18446744073709551615,100\na,7,50\nf,18446744073709551615,100\na,500000000,70\nf,500000000,70\n");
  const auto a = tensor_lifetimes(small), b = tensor_lifetimes(huge);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a[i].first_op, b[i].first_op);
    EXPECT_EQ(a[i].last_op, b[i].last_op);
    EXPECT_EQ(a[i].bytes, b[i].bytes);
  }
  EXPECT_EQ(a[1].last_op, 4u) << "never freed: live to the end";
  alloc_trace bad;
  bad.ops.push_back({false, 3, 10, 0});
  EXPECT_THROW(tensor_lifetimes(bad), std::invalid_argument);
}

// Issue 12 row 14: write errors were lost.
TEST(trace_writer, reports_write_errors_and_stops) {
  {
    trace_writer w("/dev/full");
    for (std::uint64_t i = 0; i < 10; ++i) w.write({true, i, 64, 0});
    const std::string e = what_of([&] { w.flush(); });
    EXPECT_NE(e.find("writing the trace to /dev/full failed"), std::string::npos) << e;
    EXPECT_NE(e.find("No space left on device"), std::string::npos) << e;
    EXPECT_FALSE(w.error().empty());
    EXPECT_NE(what_of([&] { w.write({true, 11, 64, 0}); }).find("the trace stops there"), std::string::npos);
  }
  std::ostringstream bad;
  bad.setstate(std::ios::badbit);
  EXPECT_NE(what_of([&] { trace_writer w(bad, "my stream"); }).find("writing the trace to my stream failed at line 1"),
            std::string::npos);
  EXPECT_NE(what_of([] { trace_writer w("/nonexistent/t.csv"); }).find("/nonexistent/t.csv: cannot create"),
            std::string::npos);
  std::ostringstream ok;
  trace_writer w(ok, "ok");
  w.write({true, 1, 2, 3});
  w.close();
  EXPECT_EQ(ok.str(), "op,id,bytes,stream\na,1,2,3\n");
  EXPECT_THROW(w.write({false, 1, 2, 3}), std::runtime_error) << "closed";
}

}  // namespace
}  // namespace unimem::test

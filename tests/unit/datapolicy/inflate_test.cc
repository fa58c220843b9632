// Unit tests of the streaming Inflater (datapolicy/src/inflate.cc): streams written by the real
// gzip(1) and by zlib, fed whole and byte by byte; several gzip members; truncated and corrupted
// input; decompression bombs stopped by the budget with bounded work.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstdio>
#include <random>
#include <string>

#include "command_output.h"
#include "goldgate/datapolicy/inflate.h"
#include "temp_dir.h"

using goldgate::datapolicy::InflateBudget;
using goldgate::datapolicy::Inflater;
using Status = Inflater::Status;

namespace {

// What gzip(1) writes for `text`.
std::string gzipTool(const std::string& text, const char* flags = "-c") {
  goldgate::test::TempDir dir;
  const std::string in = (dir.path() / "in.txt").string();
  FILE* f = std::fopen(in.c_str(), "wb");
  REQUIRE(f);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return goldgate::test::commandOutput("gzip " + std::string(flags) + " " + in);
}

// zlib's own deflate: windowBits 15 (zlib header) or -15 (raw).
std::string deflateWith(const std::string& text, int windowBits, int level = 6) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

struct Result {
  Status status;
  std::string out;
  std::string reason;
};

// Feeds `data` in pieces of `step` bytes (0: whole), then finishes.
Result inflateAll(const std::string& data, size_t step = 0, Inflater::Format fmt = Inflater::Format::kAuto,
                  InflateBudget budget = {}) {
  Inflater inf(fmt, budget);
  Result r{Status::kMore, "", ""};
  auto emit = [&](const uint8_t* d, size_t n) { r.out.append(reinterpret_cast<const char*>(d), n); };
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t left = data.size();
  while (left > 0 && r.status == Status::kMore) {
    const size_t n = step ? std::min(step, left) : left;
    r.status = inf.feed(p, n, emit);
    p += n, left -= n;
  }
  if (r.status == Status::kMore) r.status = inf.finish();
  r.reason = inf.reason();
  return r;
}

std::string sampleText() {
  std::string s;
  for (int i = 0; i < 2000; ++i) s += "order " + std::to_string(i) + ": card 4111 1111 1111 1111, thank you\n";
  return s;
}

}  // namespace

TEST_CASE("Inflater: gzip(1) output, whole and byte by byte", "[inflate]") {
  const std::string text = sampleText();
  const std::string gz = gzipTool(text);
  REQUIRE(Inflater::looksGzip(reinterpret_cast<const uint8_t*>(gz.data()), gz.size()));
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}}) {
    INFO("step " << step);
    const Result r = inflateAll(gz, step);
    CHECK(r.status == Status::kDone);
    CHECK(r.out == text);
  }
}

TEST_CASE("Inflater: zlib and raw deflate streams", "[inflate]") {
  const std::string text = sampleText();
  CHECK(inflateAll(deflateWith(text, 15), 3).out == text);
  const Result raw = inflateAll(deflateWith(text, -15), 0, Inflater::Format::kRaw);
  CHECK(raw.status == Status::kDone);
  CHECK(raw.out == text);
}

TEST_CASE("Inflater: gzip members one after another are one stream, as gzip -d reads them", "[inflate]") {
  const std::string a = "first member 4111111111111111\n", b = "second member\n";
  const Result r = inflateAll(gzipTool(a) + gzipTool(b), 5);
  CHECK(r.status == Status::kDone);
  CHECK(r.out == a + b);
}

TEST_CASE("Inflater: truncated and corrupted streams are refused with a reason", "[inflate]") {
  const std::string gz = gzipTool(sampleText());
  SECTION("truncated") {
    const Result r = inflateAll(gz.substr(0, gz.size() / 2), 100);
    CHECK(r.status == Status::kBad);
    CHECK_THAT(r.reason, Catch::Contains("truncated"));
  }
  SECTION("corrupted") {
    std::string bad = gz;
    for (size_t i = 20; i < 40; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    const Result r = inflateAll(bad);
    CHECK(r.status == Status::kBad);
    CHECK_FALSE(r.reason.empty());
  }
  SECTION("not compressed at all") {
    const Result r = inflateAll("plain text, no header");
    CHECK(r.status == Status::kBad);
  }
}

TEST_CASE("Inflater: a decompression bomb costs its sender: the budget stops it early", "[inflate]") {
  // 64 MiB of zeros deflate to about 64 KiB (1,000:1).
  const std::string zeros(64u << 20, '\0');
  const std::string bomb = deflateWith(zeros, 15, 9);
  REQUIRE(bomb.size() < (256u << 10));
  SECTION("ratio") {
    InflateBudget b;
    b.max_ratio = 100;
    const Result r = inflateAll(bomb, 4096, Inflater::Format::kAuto, b);
    CHECK(r.status == Status::kBudget);
    CHECK_THAT(r.reason, Catch::Contains("100:1"));
    CHECK(r.out.size() < (2u << 20));  // stopped soon after the ratio is judged (1 MiB)
  }
  SECTION("total") {
    InflateBudget b;
    b.max_ratio = 1u << 30;
    b.max_output = 8u << 20;
    const Result r = inflateAll(bomb, 0, Inflater::Format::kAuto, b);
    CHECK(r.status == Status::kBudget);
    CHECK(r.out.size() <= (8u << 20));
    CHECK_THAT(r.reason, Catch::Contains("budget"));
  }
  SECTION("the same data within a budget that allows it decodes whole") {
    InflateBudget b;
    b.max_ratio = 2000;
    b.max_output = 128u << 20;
    const Result r = inflateAll(bomb, 0, Inflater::Format::kAuto, b);
    CHECK(r.status == Status::kDone);
    CHECK(r.out.size() == zeros.size());
  }
}

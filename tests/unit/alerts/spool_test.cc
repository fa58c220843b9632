// Unit tests of a sink's on-disk spool (alerts/src/spool.cc): order, confirmation, persistence
// across reopen (a daemon restart), a torn tail, damaged numbering, and the bound (oldest
// lowest-severity first).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "goldgate/alerts/spool.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::alerts;
using goldgate::test::TempDir;

namespace {

std::vector<std::string> payloads(const Spool& s) {
  std::vector<Spool::Record> recs;
  s.peek(0, 1 << 20, recs);
  std::vector<std::string> out;
  for (auto& r : recs) out.push_back(r.payload);
  return out;
}

}  // namespace

TEST_CASE("spool keeps records in order until confirmed, across a reopen") {
  TempDir d;
  std::string dir = (d.path() / "sink").string();
  {
    auto s = Spool::open(dir, 1 << 20);
    REQUIRE(s.has_value());
    for (int i = 0; i < 10; ++i) REQUIRE(*(*s)->append("event " + std::to_string(i), 3) == 0);
    CHECK((*s)->backlogEvents() == 10);
    std::vector<Spool::Record> recs;
    (*s)->peek(0, 4, recs);
    REQUIRE(recs.size() == 4);
    CHECK(recs[0].payload == "event 0");
    CHECK(recs[3].payload == "event 3");
    (*s)->peek(recs[3].seq, 100, recs);
    REQUIRE(recs.size() == 6);
    CHECK(recs[0].payload == "event 4");
    (*s)->confirm(3);  // events 0..2 delivered
    CHECK((*s)->backlogEvents() == 7);
  }
  auto s = Spool::open(dir, 1 << 20);  // "restart"
  REQUIRE(s.has_value());
  auto p = payloads(**s);
  REQUIRE(p.size() == 7);
  CHECK(p.front() == "event 3");
  CHECK(p.back() == "event 9");
  // New records continue the sequence after the reloaded ones.
  REQUIRE((*s)->append("event 10", 3).has_value());
  std::vector<Spool::Record> recs;
  (*s)->peek(0, 100, recs);
  REQUIRE(recs.size() == 8);
  CHECK(recs[7].seq > recs[6].seq);
  // Confirming everything empties the file; a reopen finds nothing.
  (*s)->confirm(recs.back().seq);
  CHECK((*s)->backlogEvents() == 0);
  s->reset();
  auto again = Spool::open(dir, 1 << 20);
  REQUIRE(again.has_value());
  CHECK((*again)->backlogEvents() == 0);
  CHECK(std::filesystem::file_size(dir + "/spool") == 0);
}

TEST_CASE("spool cuts a torn tail and keeps what came before") {
  TempDir d;
  std::string dir = (d.path() / "sink").string();
  {
    auto s = Spool::open(dir, 1 << 20);
    REQUIRE(s.has_value());
    REQUIRE((*s)->append("first", 1).has_value());
    REQUIRE((*s)->append("second", 1).has_value());
  }
  {
    std::ofstream f(dir + "/spool", std::ios::app | std::ios::binary);
    f << std::string("\x40\x00\x00\x00\x01partial", 12);  // a header promising 64 bytes, then a crash
  }
  auto s = Spool::open(dir, 1 << 20);
  REQUIRE(s.has_value());
  CHECK((*s)->tornOnOpen() == 1);
  CHECK(payloads(**s) == std::vector<std::string>{"first", "second"});
  REQUIRE((*s)->append("third", 1).has_value());
  s->reset();
  auto again = Spool::open(dir, 1 << 20);
  REQUIRE(again.has_value());
  CHECK((*again)->tornOnOpen() == 0);
  CHECK(payloads(**again) == std::vector<std::string>{"first", "second", "third"});
}

TEST_CASE("a corrupt record (checksum) is cut like a torn one") {
  TempDir d;
  std::string dir = (d.path() / "sink").string();
  {
    auto s = Spool::open(dir, 1 << 20);
    REQUIRE(s.has_value());
    REQUIRE((*s)->append("good", 1).has_value());
    REQUIRE((*s)->append("flipped", 1).has_value());
  }
  {
    std::fstream f(dir + "/spool", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('X');
  }
  auto s = Spool::open(dir, 1 << 20);
  REQUIRE(s.has_value());
  CHECK((*s)->tornOnOpen() == 1);
  CHECK(payloads(**s) == std::vector<std::string>{"good"});
}

TEST_CASE("a spool numbered near the end of its sequences (damage) numbers its records afresh") {
  TempDir d;
  std::string dir = (d.path() / "sink").string();
  std::filesystem::create_directories(dir);
  // Two records in the file layout of spool.h, the second numbered 2^62 - 1: the last number a
  // spool reads, so the next append's number would be cut as damage on the next open.
  auto record = [](uint64_t seq, const std::string& payload) {
    std::string out;
    auto put = [&out](uint64_t v, int bytes) {
      for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    uint32_t h = 2166136261u;
    for (unsigned char c : payload) h = (h ^ c) * 16777619u;
    put(payload.size(), 4), put(1, 1), put(seq, 8), put(h, 4);
    return out + payload;
  };
  {
    std::ofstream f(dir + "/spool", std::ios::binary);
    f << record(1, "first") << record((uint64_t{1} << 62) - 1, "second");
  }
  {
    auto s = Spool::open(dir, 1 << 20);
    REQUIRE(s.has_value());
    CHECK((*s)->tornOnOpen() == 0);
    std::vector<Spool::Record> recs;
    (*s)->peek(0, 100, recs);
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].seq == 1);
    CHECK(recs[1].seq == 2);
    REQUIRE((*s)->append("third", 1).has_value());
    CHECK((*s)->lastSeq() == 3);
  }
  auto again = Spool::open(dir, 1 << 20);
  REQUIRE(again.has_value());
  CHECK((*again)->tornOnOpen() == 0);
  CHECK_FALSE((*again)->renumberedOnOpen());
  CHECK(payloads(**again) == std::vector<std::string>{"first", "second", "third"});
  again->reset();
  // Numbered exactly at the point where open renumbers (2^61): renumbered at that open, not at a
  // later one after an append (found by fuzz.spool).
  {
    std::ofstream f(dir + "/spool", std::ios::binary | std::ios::trunc);
    f << record(1, "first") << record(uint64_t{1} << 61, "second");
  }
  std::filesystem::remove(dir + "/cursor");
  auto bound = Spool::open(dir, 1 << 20);
  REQUIRE(bound.has_value());
  CHECK((*bound)->renumberedOnOpen());
  CHECK((*bound)->lastSeq() == 2);
}

TEST_CASE("a full spool drops the oldest records of the lowest severity first, and says how many") {
  TempDir d;
  std::string dir = (d.path() / "sink").string();
  const std::string body(100, 'x');  // 117 bytes a record with its header
  auto s = Spool::open(dir, 117 * 10);
  REQUIRE(s.has_value());
  // Ten records: severities 1 (even) and 8 (odd), all the bound holds.
  for (int i = 0; i < 10; ++i) REQUIRE(*(*s)->append(std::to_string(i) + body.substr(1), i % 2 ? 8 : 1) == 0);
  // One more: the bound sheds enough for it plus a tenth, all from severity 1, oldest first.
  auto dropped = (*s)->append("A" + body.substr(1), 8);
  REQUIRE(dropped.has_value());
  CHECK(*dropped == 2);
  CHECK((*s)->dropped() == 2);
  std::vector<std::string> first;
  for (auto& p : payloads(**s)) first.push_back(p.substr(0, 1));
  CHECK(first == std::vector<std::string>{"1", "3", "4", "5", "6", "7", "8", "9", "A"});
  // The drop is on disk too: a reopen sees the same records.
  s->reset();
  auto again = Spool::open(dir, 117 * 10);
  REQUIRE(again.has_value());
  CHECK(payloads(**again).size() == 9);
  // A record larger than the whole bound is refused (and counted), not stored.
  auto huge = (*again)->append(std::string(2000, 'y'), 10);
  REQUIRE(huge.has_value());
  CHECK(*huge == 1);
  CHECK(payloads(**again).size() == 9);
}

TEST_CASE("spool refuses a folder it cannot create") {
  auto s = Spool::open("/proc/goldgate-no/such", 1 << 20);
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().message.find("/proc/goldgate-no/such") != std::string::npos);
}

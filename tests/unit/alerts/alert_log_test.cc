// Unit tests of the alert log (alerts/src/alert_log.cc, community_id.cc): aggregation of repeated
// alerts written to a JSON-lines file, driven by explicit timestamps (no clock), and Community ID
// against the specification's published vectors.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "alert.pb.h"
#include "goldgate/alerts/alert_log.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::alerts;
namespace fs = std::filesystem;

using goldgate::test::TempDir;

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kT0 = 1700000000000 * kMs;  // an arbitrary wall-clock instant

// Every line of the log, parsed back into events (each line must be one valid JSON event).
std::vector<proto::AlertEvent> readEvents(const fs::path& file) {
  std::vector<proto::AlertEvent> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    proto::AlertEvent ev;
    INFO(line);
    REQUIRE(google::protobuf::util::JsonStringToMessage(line, &ev).ok());
    out.push_back(ev);
  }
  return out;
}

proto::AlertEvent denyEvent(const std::string& message) {
  proto::AlertEvent ev;
  ev.set_kind("policy.deny");
  ev.set_severity(5);
  ev.set_port("vm1");
  ev.set_rule("default");
  ev.set_action("deny");
  ev.set_message(message);
  return ev;
}

std::unique_ptr<AlertLog> openLog(const fs::path& file, uint32_t windowMs) {
  auto log = AlertLog::open(file.string(), windowMs, "unit-test");
  REQUIRE(log.has_value());
  return std::move(*log);
}

}  // namespace

TEST_CASE("AlertLog: the first event is written at once, repeats are aggregated", "[alerts]") {
  TempDir dir;
  const fs::path file = dir.path() / "alerts.jsonl";
  auto log = openLog(file, 1000);

  log->raise(denyEvent("denied 10.0.0.1 -> 10.0.0.2"), "deny|vm1|10.0.0.1", kT0);
  CHECK(log->written() == 1);
  auto events = readEvents(file);
  REQUIRE(events.size() == 1);
  CHECK(events[0].message() == "denied 10.0.0.1 -> 10.0.0.2");
  CHECK(events[0].count() == 1);
  CHECK(events[0].time_unix_ns() == kT0);
  CHECK(events[0].schema_version() == 1);
  CHECK(events[0].source() == "unit-test");
  CHECK_FALSE(events[0].host().empty());
  CHECK_FALSE(events[0].id().empty());
  CHECK(events[0].kind() == "policy.deny");

  // Three repeats inside the window: nothing written yet.
  log->raise(denyEvent("denied 10.0.0.1 -> 10.0.0.2"), "deny|vm1|10.0.0.1", kT0 + 100 * kMs);
  log->raise(denyEvent("denied 10.0.0.1 -> 10.0.0.2"), "deny|vm1|10.0.0.1", kT0 + 200 * kMs);
  log->raise(denyEvent("denied 10.0.0.1 -> 10.0.0.2"), "deny|vm1|10.0.0.1", kT0 + 300 * kMs);
  CHECK(log->written() == 1);
  log->tick(kT0 + 999 * kMs);  // window still open
  CHECK(log->written() == 1);
  CHECK(readEvents(file).size() == 1);

  // The window closes: one event stands for the three repeats.
  log->tick(kT0 + 1000 * kMs);
  CHECK(log->written() == 2);
  events = readEvents(file);
  REQUIRE(events.size() == 2);
  const proto::AlertEvent& agg = events[1];
  CHECK(agg.count() == 3);
  CHECK(agg.message() == "denied 10.0.0.1 -> 10.0.0.2 (repeated 3 more times)");
  CHECK(agg.time_unix_ns() == kT0 + 100 * kMs);  // first repeat
  CHECK(agg.last_time_unix_ns() == kT0 + 300 * kMs);
  CHECK(agg.kind() == "policy.deny");
  CHECK(agg.port() == "vm1");
  CHECK(agg.id() != events[0].id());

  // Nothing pending any more: further ticks write nothing.
  log->tick(kT0 + 5000 * kMs);
  CHECK(log->written() == 2);

  // After the window the same key starts afresh: written at once.
  log->raise(denyEvent("denied 10.0.0.1 -> 10.0.0.2"), "deny|vm1|10.0.0.1", kT0 + 6000 * kMs);
  CHECK(log->written() == 3);
  events = readEvents(file);
  REQUIRE(events.size() == 3);
  CHECK(events[2].count() == 1);
  CHECK(events[2].time_unix_ns() == kT0 + 6000 * kMs);
}

TEST_CASE("AlertLog: a raise after the window reports the suppressed repeats first", "[alerts]") {
  TempDir dir;
  const fs::path file = dir.path() / "alerts.jsonl";
  auto log = openLog(file, 1000);
  log->raise(denyEvent("x"), "k", kT0);
  log->raise(denyEvent("x"), "k", kT0 + 10 * kMs);
  log->raise(denyEvent("x"), "k", kT0 + 20 * kMs);
  // No tick in between: the next occurrence after the window flushes the aggregate itself.
  log->raise(denyEvent("x"), "k", kT0 + 1500 * kMs);
  auto events = readEvents(file);
  REQUIRE(events.size() == 3);
  CHECK(events[0].count() == 1);
  CHECK(events[1].count() == 2);
  CHECK(events[1].message() == "x (repeated 2 more times)");
  CHECK(events[2].count() == 1);
  CHECK(events[2].time_unix_ns() == kT0 + 1500 * kMs);
}

TEST_CASE("AlertLog: a repeat carrying a count adds that count", "[alerts]") {
  TempDir dir;
  const fs::path file = dir.path() / "alerts.jsonl";
  auto log = openLog(file, 1000);
  log->raise(denyEvent("dropped"), "k", kT0);
  proto::AlertEvent many = denyEvent("dropped");
  many.set_count(40);
  log->raise(many, "k", kT0 + 1 * kMs);
  log->raise(denyEvent("dropped"), "k", kT0 + 2 * kMs);
  log->tick(kT0 + 1000 * kMs);
  auto events = readEvents(file);
  REQUIRE(events.size() == 2);
  CHECK(events[1].count() == 41);
  CHECK(events[1].message() == "dropped (repeated 41 more times)");
}

TEST_CASE("AlertLog: window 0 writes every event", "[alerts]") {
  TempDir dir;
  const fs::path file = dir.path() / "alerts.jsonl";
  auto log = openLog(file, 0);
  for (int i = 0; i < 3; ++i) log->raise(denyEvent("same"), "same-key", kT0 + i);
  CHECK(log->written() == 3);
  log->tick(kT0 + 10000 * kMs);
  log->flushAll();
  CHECK(log->written() == 3);
  auto events = readEvents(file);
  REQUIRE(events.size() == 3);
  for (const auto& ev : events) {
    CHECK(ev.count() == 1);
    CHECK(ev.message() == "same");
  }
}

TEST_CASE("AlertLog: distinct keys are not merged", "[alerts]") {
  TempDir dir;
  const fs::path file = dir.path() / "alerts.jsonl";
  auto log = openLog(file, 1000);
  log->raise(denyEvent("a"), "key-a", kT0);
  log->raise(denyEvent("b"), "key-b", kT0 + 1 * kMs);
  CHECK(log->written() == 2);  // each first occurrence at once
  log->raise(denyEvent("a"), "key-a", kT0 + 2 * kMs);
  log->raise(denyEvent("b"), "key-b", kT0 + 3 * kMs);
  log->raise(denyEvent("b"), "key-b", kT0 + 4 * kMs);
  log->tick(kT0 + 1000 * kMs);  // closes key-a's window only
  auto events = readEvents(file);
  REQUIRE(events.size() == 3);
  CHECK(events[2].message() == "a (repeated 1 more times)");
  CHECK(events[2].count() == 1);
  log->tick(kT0 + 1001 * kMs);
  events = readEvents(file);
  REQUIRE(events.size() == 4);
  CHECK(events[3].message() == "b (repeated 2 more times)");
  CHECK(events[3].count() == 2);
}

TEST_CASE("AlertLog: flushAll and destruction write what is pending; ids are unique", "[alerts]") {
  TempDir dir;
  const fs::path file = dir.path() / "alerts.jsonl";
  {
    auto log = openLog(file, 60000);
    for (int k = 0; k < 5; ++k)
      for (int i = 0; i < 4; ++i) log->raise(denyEvent("k" + std::to_string(k)), "key" + std::to_string(k), kT0 + i);
    CHECK(log->written() == 5);
    log->flushAll();
    CHECK(log->written() == 10);
    log->raise(denyEvent("late"), "late", kT0 + 10);
    log->raise(denyEvent("late"), "late", kT0 + 11);
    CHECK(log->written() == 11);
  }  // destructor flushes the "late" aggregate
  auto events = readEvents(file);
  REQUIRE(events.size() == 12);
  CHECK(events[11].message() == "late (repeated 1 more times)");
  std::set<std::string> ids;
  for (const auto& ev : events) ids.insert(ev.id());
  CHECK(ids.size() == events.size());

  // A second log appending to the same file keeps the old lines and still gives fresh ids.
  {
    auto log = openLog(file, 0);
    log->raise(denyEvent("again"), "again", kT0);
  }
  events = readEvents(file);
  REQUIRE(events.size() == 13);
  for (const auto& ev : events) ids.insert(ev.id());
  CHECK(ids.size() == 13);
}

TEST_CASE("AlertLog::open creates the folder and reports a path it cannot open", "[alerts]") {
  TempDir dir;
  const fs::path nested = dir.path() / "a" / "b" / "alerts.jsonl";
  auto ok = AlertLog::open(nested.string(), 1000, "unit-test");
  REQUIRE(ok.has_value());
  CHECK((*ok)->path() == nested.string());
  CHECK(fs::exists(nested));

  // A regular file where a folder should be.
  std::ofstream(dir.path() / "file") << "x";
  const fs::path impossible = dir.path() / "file" / "alerts.jsonl";
  auto bad = AlertLog::open(impossible.string(), 1000, "unit-test");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Error::Code::kIo);
  CHECK_THAT(bad.error().message, Catch::Matchers::StartsWith(impossible.string() + ": cannot open alert log"));
}

namespace {

struct Endpoints {
  uint8_t family;
  uint8_t src[16];
  uint8_t dst[16];
};

Endpoints addrs(const char* src, const char* dst) {
  Endpoints e{};
  e.family = std::string(src).find(':') == std::string::npos ? 4 : 6;
  int af = e.family == 4 ? AF_INET : AF_INET6;
  REQUIRE(inet_pton(af, src, e.src) == 1);
  REQUIRE(inet_pton(af, dst, e.dst) == 1);
  return e;
}

}  // namespace

TEST_CASE("communityId matches the Community ID v1 published vectors", "[alerts][community_id]") {
  struct Vector {
    const char *src, *dst;
    uint8_t proto;
    uint16_t sport, dport;
    const char* id;
  };
  // Community ID specification (corelight/community-id-spec) examples, seed 0.
  const Vector vectors[] = {
      {"128.232.110.120", "66.35.250.204", 6, 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
      {"192.168.1.52", "8.8.8.8", 17, 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
      {"1.2.3.4", "5.6.7.8", 6, 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
      {"1.2.3.4", "5.6.7.8", 17, 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
      {"2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 6, 63943, 25,
       "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
      {"192.168.170.8", "192.168.170.56", 132, 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
  };
  for (const auto& v : vectors) {
    INFO(v.src << ":" << v.sport << " -> " << v.dst << ":" << v.dport << " proto " << int(v.proto));
    Endpoints e = addrs(v.src, v.dst);
    CHECK(communityId(e.family, e.src, e.dst, v.proto, v.sport, v.dport) == v.id);
    // The reply direction gives the same id.
    CHECK(communityId(e.family, e.dst, e.src, v.proto, v.dport, v.sport) == v.id);
  }
}

TEST_CASE("communityId is symmetric and distinguishes flows", "[alerts][community_id]") {
  Endpoints e = addrs("10.0.0.1", "10.0.0.2");
  std::string fwd = communityId(4, e.src, e.dst, 6, 40000, 443);
  CHECK(fwd.rfind("1:", 0) == 0);
  CHECK(fwd.size() == 2 + 28);  // base64 of a 20-byte SHA-1
  CHECK(communityId(4, e.dst, e.src, 6, 443, 40000) == fwd);
  CHECK(communityId(4, e.src, e.dst, 6, 40001, 443) != fwd);
  CHECK(communityId(4, e.src, e.dst, 17, 40000, 443) != fwd);

  // Same address both ends: the port decides the order, and swapping still agrees.
  std::string self = communityId(4, e.src, e.src, 17, 5000, 53);
  CHECK(communityId(4, e.src, e.src, 17, 53, 5000) == self);

  Endpoints v6 = addrs("2001:db8::1", "2001:db8::2");
  CHECK(communityId(6, v6.src, v6.dst, 6, 1, 2) == communityId(6, v6.dst, v6.src, 6, 2, 1));
}

TEST_CASE("communityId is empty for protocols it does not cover", "[alerts][community_id]") {
  Endpoints e = addrs("192.168.0.89", "192.168.0.1");
  CHECK(communityId(4, e.src, e.dst, 1, 8, 0).empty());   // ICMP
  CHECK(communityId(4, e.src, e.dst, 47, 0, 0).empty());  // GRE
  Endpoints v6 = addrs("fe80::1", "fe80::2");
  CHECK(communityId(6, v6.src, v6.dst, 58, 128, 0).empty());  // ICMPv6
}

TEST_CASE("AlertLog rotates by size and keeps the configured number of old files", "[alerts]") {
  TempDir dir;
  fs::path file = dir.path() / "alerts.jsonl";
  uint64_t rotateAt = 0;
  {
    auto log = AlertLog::open(file.string(), 0, "goldgate-switch");
    REQUIRE(log.has_value());
    rotateAt = 1200;
    (*log)->setRotation(rotateAt, 2);
    for (int i = 0; i < 40; ++i)
      (*log)->raise(denyEvent("event " + std::to_string(i)), "k" + std::to_string(i), kT0 + i * kMs);
    CHECK((*log)->written() == 40);
    CHECK((*log)->rotations() >= 3);
  }
  REQUIRE(fs::exists(file));
  REQUIRE(fs::exists(file.string() + ".1"));
  REQUIRE(fs::exists(file.string() + ".2"));
  CHECK_FALSE(fs::exists(file.string() + ".3"));  // keep = 2: the oldest went
  // Every file stays under the bound, each line is a whole event, and the newest events are in
  // order across PATH.2, PATH.1, PATH.
  std::vector<std::string> messages;
  for (const std::string& f : {file.string() + ".2", file.string() + ".1", file.string()}) {
    CHECK(fs::file_size(f) <= rotateAt);
    for (const auto& ev : readEvents(f)) messages.push_back(ev.message());
  }
  REQUIRE(!messages.empty());
  CHECK(messages.back() == "event 39");
  for (size_t i = 1; i < messages.size(); ++i) {
    int a = std::stoi(messages[i - 1].substr(6)), b = std::stoi(messages[i].substr(6));
    CHECK(b == a + 1);
  }
}

// Unit tests of the learned MAC table (dataplane/src/mac_table.h): learning, moves, aging and the
// replacement of the oldest entry when a probe window is full. Time is a plain counter here.
#include <catch2/catch.hpp>

#include <cstdint>

#include "mac_table.h"

using goldgate::dataplane::MacTable;

TEST_CASE("MacTable: unknown addresses are not found", "[mac_table]") {
  MacTable t(64);
  CHECK(t.lookup(0x020000000001ull, 0) == -1);
  CHECK(t.lookup(0, 0) == -1);
}

TEST_CASE("MacTable: learn, relearn and move", "[mac_table]") {
  MacTable t(64);
  const uint64_t a = 0x020000000001ull, b = 0x020000000002ull;
  CHECK(t.learn(a, 3, 100));  // new
  CHECK(t.lookup(a, 100) == 3);
  CHECK_FALSE(t.learn(a, 3, 200));  // seen again on the same port: not news
  CHECK(t.lookup(a, 200) == 3);
  CHECK(t.learn(a, 7, 300));  // moved
  CHECK(t.lookup(a, 300) == 7);

  CHECK(t.learn(b, 1, 300));
  CHECK(t.lookup(b, 300) == 1);
  CHECK(t.lookup(a, 300) == 7);  // unaffected
}

TEST_CASE("MacTable: the all-zero and all-ones addresses are ordinary keys", "[mac_table]") {
  MacTable t(64);
  CHECK(t.learn(0, 2, 1));  // stored as key 1: must not look like an empty slot
  CHECK(t.lookup(0, 1) == 2);
  CHECK(t.learn(0xffffffffffffull, 5, 1));
  CHECK(t.lookup(0xffffffffffffull, 1) == 5);
  CHECK(t.lookup(0, 1) == 2);
}

TEST_CASE("MacTable: entries age out after the configured ticks", "[mac_table]") {
  MacTable t(64, 100);
  const uint64_t a = 0x02000000000aull;
  t.learn(a, 4, 1000);
  CHECK(t.lookup(a, 1000) == 4);
  CHECK(t.lookup(a, 1100) == 4);     // exactly the age: still valid
  CHECK(t.lookup(a, 1101) == -1);    // older than the age
  CHECK_FALSE(t.learn(a, 4, 1200));  // refreshed (same port)
  CHECK(t.lookup(a, 1250) == 4);

  SECTION("age 0 never expires") {
    MacTable forever(64, 0);
    forever.learn(a, 9, 1);
    CHECK(forever.lookup(a, UINT64_MAX / 2) == 9);
  }
  SECTION("setAge changes the age of existing entries") {
    t.setAge(10);
    CHECK(t.lookup(a, 1250) == -1);
    t.setAge(0);
    CHECK(t.lookup(a, 1250) == 4);
  }
}

TEST_CASE("MacTable: a full probe window replaces its oldest entry", "[mac_table]") {
  // Capacity 8 = the probe window: every address competes for the same 8 slots.
  MacTable t(8);
  const uint64_t base = 0x021100000000ull;
  for (uint64_t i = 0; i < 8; ++i) CHECK(t.learn(base + i, static_cast<uint8_t>(i), 10 + i));
  for (uint64_t i = 0; i < 8; ++i) CHECK(t.lookup(base + i, 20) == static_cast<int>(i));

  SECTION("the least recently seen address goes") {
    CHECK(t.learn(base + 100, 9, 30));
    CHECK(t.lookup(base + 100, 30) == 9);
    CHECK(t.lookup(base + 0, 30) == -1);  // seen at tick 10: the oldest
    for (uint64_t i = 1; i < 8; ++i) CHECK(t.lookup(base + i, 30) == static_cast<int>(i));
  }
  SECTION("learning refreshes an entry so that another one is replaced") {
    CHECK_FALSE(t.learn(base + 0, 0, 25));  // address 0 is now the newest
    CHECK(t.learn(base + 100, 9, 30));
    CHECK(t.lookup(base + 0, 30) == 0);
    CHECK(t.lookup(base + 1, 30) == -1);  // seen at tick 11: now the oldest
  }
}

TEST_CASE("MacTable: clear forgets everything", "[mac_table]") {
  MacTable t(64);
  for (uint64_t i = 0; i < 20; ++i) t.learn(0x020000000000ull + i, 1, 5);
  t.clear();
  for (uint64_t i = 0; i < 20; ++i) CHECK(t.lookup(0x020000000000ull + i, 5) == -1);
  CHECK(t.learn(0x020000000000ull, 2, 6));  // new again after clear
}

TEST_CASE("MacTable: consecutive addresses at half load are all kept", "[mac_table]") {
  // VMs commonly get consecutive MACs (52:54:00:...); the hash must spread them over the table.
  MacTable t(4096);
  for (uint64_t i = 0; i < 2048; ++i) CHECK(t.learn(0x525400000000ull + i, static_cast<uint8_t>(i % 32), 1));
  int found = 0;
  for (uint64_t i = 0; i < 2048; ++i)
    if (t.lookup(0x525400000000ull + i, 1) == static_cast<int>(i % 32)) ++found;
  CHECK(found == 2048);
}

// Unit tests of FragmentGather (dataplane/fragments.h): a fragmented datagram's payload gathered
// for inspection, in any order, each byte once; what a receiver would refuse is refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "goldgate/dataplane/fragments.h"

using goldgate::dataplane::FragmentGather;

namespace {

const auto* u8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string payload(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

}  // namespace

TEST_CASE("fragments in any order give back the datagram's payload, once whole") {
  const std::string p = payload(3000);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    // Cut at multiples of 8 (as IP does), then deliver in a random order.
    std::vector<uint32_t> cuts = {0};
    while (cuts.back() + 8 < p.size()) cuts.push_back(cuts.back() + 8 * (1 + rng() % 40));
    cuts.back() = std::min<uint32_t>(cuts.back(), static_cast<uint32_t>(p.size()));
    if (cuts.back() != p.size()) cuts.push_back(static_cast<uint32_t>(p.size()));
    std::vector<size_t> order(cuts.size() - 1);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    FragmentGather g;
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t i = order[k];
      REQUIRE_FALSE(g.complete());
      REQUIRE(g.add(cuts[i], u8(p) + cuts[i], cuts[i + 1] - cuts[i], i + 1 == order.size()));
    }
    REQUIRE(g.complete());
    CHECK(g.heldBytes() == p.size());
    CHECK(g.take() == p);
    CHECK(g.heldBytes() == 0);
    CHECK_FALSE(g.complete());
  }
}

TEST_CASE("what a receiver would refuse is refused, and the datagram stays refused") {
  struct Frag {
    uint32_t off, len;
    bool last;
  };
  struct Case {
    const char* what;
    std::vector<Frag> accepted;  // taken in order
    Frag refused;                // then this one is refused
  };
  const std::vector<Case> cases = {
      {"an overlap, even with the same bytes", {{0, 24, false}}, {16, 24, true}},
      {"a fragment wholly inside one received", {{8, 32, false}}, {16, 8, false}},
      {"a fragment that covers one received", {{16, 8, false}}, {8, 32, false}},
      {"a last fragment over what came, ending where it ends (found by fuzzing)", {{0, 16, false}}, {0, 16, true}},
      {"two different ends", {{32, 32, true}}, {32, 16, true}},
      {"bytes past the end", {{0, 32, true}}, {32, 8, false}},
      {"an end before bytes already received", {{40, 24, false}}, {16, 16, true}},
      {"a payload past 64 KiB", {}, {65000, 1000, true}},
  };
  const std::string p = payload(70000);
  for (const auto& c : cases) {
    INFO(c.what);
    FragmentGather g;
    for (const auto& f : c.accepted) REQUIRE(g.add(f.off, u8(p) + f.off, f.len, f.last));
    CHECK_FALSE(g.add(c.refused.off, u8(p) + c.refused.off, c.refused.len, c.refused.last));
    CHECK(g.bad());
    CHECK_FALSE(g.complete());
    // The rest of the datagram, however good, no longer counts.
    CHECK_FALSE(g.add(0, u8(p), 8, false));
  }
  FragmentGather given;
  REQUIRE(given.add(0, u8(p), 32, false));
  given.giveUp();  // its holder could not take a fragment
  CHECK_FALSE(given.add(32, u8(p) + 32, 32, true));
  CHECK_FALSE(given.complete());
}

TEST_CASE("a datagram in one fragment is whole at once; empty fragments change nothing") {
  const std::string p = payload(40);
  FragmentGather g;
  REQUIRE(g.add(0, u8(p), 0, false));
  REQUIRE(g.add(0, u8(p), 40, true));
  REQUIRE(g.complete());
  CHECK(g.take() == p);
}

// Unit tests of run detectors (datapolicy/runs.h): byte-set syntax, the byte machine's answers on
// hand-checked inputs, and the 64-byte mask filter against the machine reading every byte, over
// random text cut into random pieces.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "goldgate/datapolicy/runs.h"

using namespace goldgate::datapolicy;

namespace {

ByteSet set(const char* s) {
  auto r = parseByteSet(s);
  INFO(s << ": " << (r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

RunSet build(std::vector<RunSpec> kinds) {
  auto r = RunSet::build(std::move(kinds));
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return std::move(*r);
}

// The shipped classes' runs.
RunSpec digitRun() { return {set("0-9"), set(" -"), 9}; }
RunSpec ibanRun() { return {set("A-Z0-9"), set(" "), 15}; }
RunSpec tokenRun() { return {set("A-Za-z0-9_\\-"), {}, 32}; }
RunSpec ssnRun() { return {set("0-9"), set(" -"), 11}; }

std::vector<RunEnd> scalar(const RunSet& rs, const std::string& text, bool finish = true) {
  std::vector<RunState> st(rs.states());
  std::vector<RunEnd> out;
  rs.scanScalar(st.data(), reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0, out);
  if (finish) rs.finish(st.data(), text.size(), out);
  return out;
}

// The ends, per kind, in stream order (the SIMD path interleaves kinds by block).
std::string show(const std::vector<RunEnd>& v) {
  std::string s;
  for (const auto& [k, e] : v) s += "(" + std::to_string(k) + "," + std::to_string(e) + ")";
  return s;
}

std::vector<RunEnd> sorted(std::vector<RunEnd> v) {
  std::stable_sort(v.begin(), v.end(), [](const RunEnd& a, const RunEnd& b) { return a.first < b.first; });
  return v;
}

}  // namespace

TEST_CASE("runs: byte sets as in a regex bracket", "[datapolicy][runs]") {
  CHECK(set("0-9").count() == 10);
  CHECK(set("A-Za-z0-9_\\-").count() == 64);
  CHECK(set("\\d").count() == 10);
  CHECK(set("\\w").count() == 63);
  CHECK(set(" -").count() == 2);
  CHECK(set("a-").test('-'));
  CHECK(set("-a").test('-'));
  CHECK(set("\\x41-\\x43") == set("ABC"));
  for (const char* bad : {"", "z-a", "\\", "\\q", "\\x4", "a-\\d"}) {
    auto r = parseByteSet(bad);
    INFO(bad);
    CHECK_FALSE(r.has_value());
  }
}

TEST_CASE("runs: bad specs are refused", "[datapolicy][runs]") {
  CHECK_FALSE(RunSet::build({{set("0-9"), set("0 "), 9}}).has_value());  // a joiner that is a byte
  CHECK_FALSE(RunSet::build({{set("0-9"), {}, 0}}).has_value());
  CHECK_FALSE(RunSet::build({{set("0-9"), {}, 65}}).has_value());
  CHECK_FALSE(RunSet::build({{set("\\x00-\\x09"), {}, 3}}).has_value());
}

TEST_CASE("runs: where the machine reports a run", "[datapolicy][runs]") {
  RunSet rs = build({digitRun()});
  using V = std::vector<RunEnd>;
  CHECK(scalar(rs, "card 4556 7375 8689 9855 ok") == V{{0, 14}, {0, 19}, {0, 24}});
  CHECK(scalar(rs, "4556737586899855") == V{{0, 16}});  // at the end of the stream
  CHECK(scalar(rs, "ref 12345678 x").empty());          // 8 bytes: short of 9
  CHECK(scalar(rs, "ref 123456789 x") == V{{0, 13}});
  CHECK(scalar(rs, "1234  5678 9").empty());  // two joiners break the run
  CHECK(scalar(rs, "1234-5678-9 ") == V{{0, 9}, {0, 11}});
  // Each group's end once the run is long enough: the engine decides which end is a value's.
  CHECK(scalar(rs, "1234 5678 9012 3456.") == V{{0, 9}, {0, 14}, {0, 19}});
  CHECK(scalar(rs, "12345678 -").empty());  // a trailing joiner is no part of it
  CHECK(scalar(build({tokenRun()}), std::string(31, 'a') + " " + std::string(32, 'b') + ".") == V{{0, 64}});
  CHECK(scalar(build({ibanRun()}), "GB82 WEST 1234 5698 7654 32 and") == V{{0, 19}, {0, 24}, {0, 27}});
}

TEST_CASE("runs: the mask filter finds what reading every byte finds, however the stream is cut",
          "[datapolicy][runs]") {
  // The shipped runs (digits and SSN one family), and more families than one table holds.
  RunSet rs = build({digitRun(),
                     ibanRun(),
                     tokenRun(),
                     ssnRun(),
                     {set("a-z"), set("."), 5},
                     {set("A-Z"), {}, 3},
                     {set("0-9"), {}, 2},
                     {set("\\x80-\\xff"), set(","), 20}});
  REQUIRE(rs.states() == 7);
  std::mt19937 rng(20261127);
  // Text dense in the bytes that matter: digits, capitals, joiners, word bytes, others.
  const std::string alphabet = "0123456789    --ABCZabcz_.,\n\x80\xff";
  for (int round = 0; round < 4000; ++round) {
    std::string text;
    size_t n = std::uniform_int_distribution<size_t>(0, 700)(rng);
    int mode = round % 4;
    for (size_t i = 0; i < n; ++i) {
      char c;
      if (mode == 0) c = alphabet[rng() % alphabet.size()];
      else if (mode == 1) c = "0123456789 -"[rng() % 12];       // long digit runs
      else if (mode == 2) c = "ABCDEFXYZ0189 "[rng() % 14];     // IBAN-like
      else c = (rng() % 40 == 0) ? ' ' : "aZ09_-x"[rng() % 7];  // token-like
      text += c;
    }
    auto want = sorted(scalar(rs, text));
    // The same bytes in pieces of random size (1..200), through the filtered path.
    std::vector<RunState> st(rs.states());
    std::vector<RunEnd> got;
    size_t off = 0;
    std::string cuts;
    while (off < text.size()) {
      size_t len = std::min<size_t>(text.size() - off, std::uniform_int_distribution<size_t>(1, 200)(rng));
      rs.scan(st.data(), reinterpret_cast<const uint8_t*>(text.data()) + off, len, off, got);
      off += len;
      cuts += " " + std::to_string(off);
    }
    rs.finish(st.data(), text.size(), got);
    auto g = sorted(got);
    size_t d = 0;
    while (d < g.size() && d < want.size() && g[d] == want[d]) ++d;
    std::string where;
    if (d < g.size() || d < want.size()) {
      uint64_t at = d < want.size() ? want[d].second : g[d].second;
      size_t from = at > 30 ? at - 30 : 0;
      where = "kind " + std::to_string(d < want.size() ? want[d].first : g[d].first) + " near " + std::to_string(at) +
              ": '" + text.substr(from, std::min<size_t>(36, text.size() - from)) + "' from " + std::to_string(from) +
              "; cuts" + cuts;
    }
    INFO("round " << round << ": first difference at " << d << " want "
                  << show(std::vector<RunEnd>(want.begin() + std::min(d, want.size()),
                                              want.begin() + std::min(d + 3, want.size())))
                  << " got "
                  << show(std::vector<RunEnd>(g.begin() + std::min(d, g.size()), g.begin() + std::min(d + 3, g.size())))
                  << " " << where);
    REQUIRE(sorted(got) == want);
  }
}

// Unit tests of the data-class engine (datapolicy/): class files and their errors, the shipped
// classes on values split across scans, context, ignore lists, min_count, the database cache,
// and TCP reassembly (reordering, retransmission, gaps).
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "goldgate/datapolicy/classes.h"
#include "goldgate/datapolicy/engine.h"
#include "goldgate/datapolicy/exact_match.h"
#include "goldgate/datapolicy/reassembly.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::datapolicy;
using goldgate::test::TempDir;

namespace {

const std::string kShipped = std::string(GOLDGATE_SOURCE_DIR) + "/configs/datapolicy";

std::shared_ptr<const Classifier> shipped() {
  static std::shared_ptr<const Classifier> c = [] {
    auto classes = loadClasses(kShipped);
    REQUIRE(classes.has_value());
    auto built = Classifier::build(std::move(*classes));
    INFO((built ? "" : built.error().message));
    REQUIRE(built.has_value());
    return *built;
  }();
  return c;
}

struct Found {
  std::string cls;
  uint64_t offset;
  double confidence;
  std::string masked;
};

// Scans `chunks` as one stream (each chunk one scan call).
std::vector<Found> scanChunks(const std::shared_ptr<const Classifier>& c, const std::vector<std::string>& chunks) {
  auto sc = Scanner::create(c);
  REQUIRE(sc.has_value());
  StreamState st;
  (*sc)->open(st);
  std::vector<Finding> out;
  for (const auto& ch : chunks) (*sc)->scan(st, reinterpret_cast<const uint8_t*>(ch.data()), ch.size(), out);
  (*sc)->close(st, out);
  std::vector<Found> r;
  for (const auto& f : out) r.push_back({c->classes()[f.class_index].name, f.offset, f.confidence, f.masked});
  return r;
}

// The shipped classes with the run detectors on the byte machine, as on a CPU without AVX-512 VBMI.
std::shared_ptr<const Classifier> shippedScalar() {
  static std::shared_ptr<const Classifier> c = [] {
    auto classes = loadClasses(kShipped);
    REQUIRE(classes.has_value());
    BuildOptions o;
    o.scalar_runs = true;
    auto built = Classifier::build(std::move(*classes), o);
    REQUIRE(built.has_value());
    return *built;
  }();
  return c;
}

std::vector<std::string> classesOf(const std::vector<Found>& f) {
  std::vector<std::string> out;
  for (const auto& x : f) out.push_back(x.cls);
  return out;
}

// The findings of `text` scanned whole; cut in two at every byte, and fed a byte at a time, it must
// give the same classes at the same offsets.
std::vector<Found> sameAtEveryCut(const std::shared_ptr<const Classifier>& c, const std::string& text) {
  const auto whole = scanChunks(c, {text});
  std::vector<std::vector<std::string>> ways(1);
  for (char ch : text) ways[0].emplace_back(1, ch);
  for (size_t cut = 1; cut < text.size(); ++cut) ways.push_back({text.substr(0, cut), text.substr(cut)});
  for (const auto& chunks : ways) {
    const auto f = scanChunks(c, chunks);
    INFO(text << ": in " << chunks.size() << " pieces, the first of " << chunks[0].size() << " bytes");
    REQUIRE(f.size() == whole.size());
    for (size_t i = 0; i < f.size(); ++i) {
      CHECK(f[i].cls == whole[i].cls);
      CHECK(f[i].offset == whole[i].offset);
    }
  }
  return whole;
}

}  // namespace

TEST_CASE("the shipped classes load and compile into one streaming database") {
  auto c = shipped();
  CHECK(c->classes().size() >= 12);
  CHECK(c->hsStreamBytes() > 0);
}

TEST_CASE("a card number split across scans is found once, masked, with its end offset") {
  std::string text = "order 77 paid with card 4556 7375 8689 9855 today";
  for (size_t cut = 1; cut < text.size(); ++cut) {
    auto f = scanChunks(shipped(), {text.substr(0, cut), text.substr(cut)});
    INFO("cut at " << cut);
    REQUIRE(classesOf(f) == std::vector<std::string>{"payment-card"});
    CHECK(f[0].offset == text.find(" today"));
    CHECK(f[0].masked == "**** **** **** 9855");
    CHECK(f[0].confidence > 0.9);  // "card" is within the window before it
  }
}

TEST_CASE("values that only look like cards are not reported") {
  CHECK(scanChunks(shipped(), {"card 4556 7375 8689 9856"}).empty());       // wrong check digit
  CHECK(scanChunks(shipped(), {"id 94556737586899855123"}).empty());        // inside a longer number
  CHECK(scanChunks(shipped(), {"test card 4111 1111 1111 1111"}).empty());  // published test number (ignore list)
  CHECK(scanChunks(shipped(), {"ref 1234567890123452"}).empty());           // Luhn-valid, no issuer prefix 1
  CHECK(scanChunks(shipped(), {"4556-7375 8689-9855"}).empty());            // mixed separators
}

TEST_CASE("a class that requires context reports only with a keyword before or after, within the window") {
  // 2341 2341 2346 is a Verhoeff-valid twelve-digit number with a leading 2.
  CHECK(scanChunks(shipped(), {"value 2341 2341 2346 end"}).empty());
  auto before = scanChunks(shipped(), {"Aadhaar no: 2341 2341 2346"});
  REQUIRE(classesOf(before) == std::vector<std::string>{"aadhaar"});
  auto after = scanChunks(shipped(), {"2341 2341 2346 is my aadhaar"});
  REQUIRE(classesOf(after) == std::vector<std::string>{"aadhaar"});
  std::string far = "aadhaar" + std::string(200, ' ') + "2341 2341 2346";
  CHECK(scanChunks(shipped(), {far}).empty());
}

TEST_CASE("IBAN, SSN, email, AWS key, JWT and PEM private keys are found") {
  auto f = scanChunks(shipped(), {"iban GB82 WEST 1234 5698 7654 32, ssn 536-22-1245, mail jane.doe@example.org,"
                                  " key AKIAZ3MHQ4WBXPLE7QNA, -----BEGIN PRIVATE KEY-----\n"});
  auto names = classesOf(f);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"aws-access-key", "email", "iban", "private-key-pem", "us-ssn"});
  for (const auto& x : f) {
    INFO(x.cls << " masked as " << x.masked);
    CHECK(x.masked.find("5698") == std::string::npos);
    CHECK(x.masked.find("536-22") == std::string::npos);
    CHECK(x.masked.find("jane") == std::string::npos);
  }
}

TEST_CASE("a class file error names the file and line; a pattern Hyperscan refuses too") {
  auto bad = parseClass("name: x\ndetectors:\n  patterns:\n    - regex: 'a'\n  validator: crc\n", "x.yaml");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.rfind("x.yaml:5: unknown validator 'crc'", 0) == 0);
  auto unknown = parseClass("name: x\ncolour: red\ndetectors: {patterns: [{regex: a}]}\n", "x.yaml");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().message.rfind("x.yaml:2: unknown key 'colour'", 0) == 0);
  auto d = parseClass("name: x\ndetectors:\n  patterns:\n    - regex: 'a'\n    - regex: '(?<=b)c'\n", "x.yaml");
  REQUIRE(d.has_value());
  auto built = Classifier::build({*d});
  REQUIRE_FALSE(built.has_value());
  CHECK(built.error().message.rfind("x.yaml:5: pattern '(?<=b)c' does not compile:", 0) == 0);
}

TEST_CASE("run detectors: errors name the file and line; a class of runs alone needs no Hyperscan database") {
  auto parse = [](const std::string& run) {
    return parseClass("name: r\ndetectors:\n  patterns:\n    - " + run + "\n", "r.yaml");
  };
  struct Bad {
    const char* run;
    const char* says;
  };
  for (const Bad& b :
       {Bad{"run: {bytes: '9-0', min_length: 4}", "r.yaml:4: run.bytes: byte set '9-0': reversed range"},
        Bad{"run: {bytes: '0-9', joiners: ' 5', min_length: 4}", "r.yaml:4: run.joiners: a joiner cannot also be"},
        Bad{"run: {bytes: '0-9'}", "r.yaml:4: run: missing 'min_length'"},
        Bad{"run: {bytes: '0-9', min_length: 65}", "r.yaml:4: run.min_length"},
        Bad{"run: {bytes: '\\q', min_length: 4}", "r.yaml:4: run.bytes: byte set '\\q': unknown escape"},
        Bad{"run: {min_length: 4}", "r.yaml:4: run: missing 'bytes'"},
        Bad{"{run: {bytes: a, min_length: 2}, regex: a}", "r.yaml:4: a pattern is a 'run'"},
        Bad{"run: {bytes: a, min_length: 2, colour: red}", "r.yaml:4: unknown key 'colour'"}}) {
    auto r = parse(b.run);
    INFO(b.run << " -> " << (r ? std::string("accepted") : r.error().message));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.rfind(b.says, 0) == 0);
  }
  auto d = parse("run: {bytes: 'A-Z', joiners: '.', min_length: 6}");
  REQUIRE(d.has_value());
  auto c = Classifier::build({*d});
  REQUIRE(c.has_value());
  CHECK((*c)->hsStreamBytes() == 0);
  auto f = scanChunks(*c, {"see A.B.C", ".D. and XYZ"});  // A.B.C.D: seven bytes, across two scans
  REQUIRE(f.size() == 1);
  CHECK(f[0].offset == 11);
  CHECK(scanChunks(*c, {"A.B.C and A..B.C.D"}).empty());  // two joiners break a run
}

TEST_CASE("context keywords: near a value in the kept bytes, or streamed when the window is wider") {
  for (uint32_t window : {48u, 1000u}) {
    auto d = parseClass(
        "name: k\ndetectors:\n  patterns: [{run: {bytes: '0-9', min_length: 6}}]\n  context:\n"
        "    keywords: [Ticket]\n    window: " +
            std::to_string(window) + "\n    required: true\n",
        "k.yaml");
    REQUIRE(d.has_value());
    auto c = Classifier::build({*d});
    REQUIRE(c.has_value());
    INFO("window " << window);
    CHECK(scanChunks(*c, {"no context 123456 here"}).empty());
    CHECK(scanChunks(*c, {"TICKET: ", "123456 "}).size() == 1);                      // before, across scans
    CHECK(scanChunks(*c, {"123456", std::string(20, ' '), " ticket"}).size() == 1);  // after, later scans
    CHECK(scanChunks(*c, {"ticket" + std::string(window + 10, ' ') + "123456 "}).empty());
    CHECK(scanChunks(*c, {"123456 " + std::string(window + 10, ' ') + "ticket"}).empty());
    if (window > 100) CHECK(scanChunks(*c, {"ticket" + std::string(window - 60, ' ') + "123456 "}).size() == 1);
  }
}

TEST_CASE("min_count holds findings until the class has been seen often enough in the stream") {
  auto d = parseClass(
      "name: many-mails\ndetectors:\n  patterns: [{regex: '\\b[a-z]+@[a-z]+\\.org\\b'}]\n  min_count: 3\n", "m.yaml");
  REQUIRE(d.has_value());
  auto c = Classifier::build({*d});
  REQUIRE(c.has_value());
  CHECK(scanChunks(*c, {"a@b.org c@d.org "}).empty());
  auto three = scanChunks(*c, {"a@b.org c@d.org e@f.org "});
  CHECK(three.size() == 3);
}

TEST_CASE("negative keywords: a word right before a value names it as something else") {
  // 4556 7375 8689 9855 is a Luhn-valid Visa number, 36123456789013 a Diners one of 14 digits,
  // 943 476 5919 an NHS number, 2341 2341 2346 an Aadhaar number, 011000015 and 021000021 routing numbers.
  struct Case {
    std::string text;
    std::vector<std::string> found;
  };
  for (const Case& k : std::vector<Case>{
           {"Order #4556737586899855 shipped", {}},
           {"Invoice No. 4556 7375 8689 9855 due", {}},
           {"Tracking: 36123456789013 (DHL)", {}},
           {"Ref 4556-7375-8689-9855.", {}},
           {"PO Number: 36123456789013\n", {}},
           {"Patient: Jane Doe, invoice 943 476 5919 ", {}},
           {"Patient phone: 943-476-5919 ", {}},
           {"Aadhaar checked, order no. 2341 2341 2346 ", {}},
           {"Routing number 011000015, account no. 021000021 ", {"us-routing"}},
           {"ssn 536-22-1245, case no. 536-22-1245 ", {"us-ssn"}},
           // The nearest word before the value decides.
           {"order 77 paid with card 4556 7375 8689 9855", {"payment-card"}},
           {"Card for order: 4556737586899855 ", {}},
           // Whole words only: "ref" in "refund" and "po" in "report" are none.
           {"Refund to 4556737586899855 today", {"payment-card"}},
           {"Report 36123456789013 ", {"payment-card"}},
           // Only before the value: a word after it comes too late to decide.
           {"4556737586899855 (order number)", {"payment-card"}},
           // And only within negative_window (32 bytes) before it.
           {"Order: " + std::string(40, ' ') + "4556737586899855 ", {"payment-card"}},
           {"Order: " + std::string(20, ' ') + "4556737586899855 ", {}},
       }) {
    INFO(k.text);
    CHECK(classesOf(sameAtEveryCut(shipped(), k.text)) == k.found);
  }
  // A class that needs context: a negative keyword before the value wins over its keyword after it.
  CHECK(sameAtEveryCut(shipped(), "Ref 2341 2341 2346 (Aadhaar)").empty());
}

TEST_CASE("negative keywords: a direction that names every card number an order number carries cards") {
  // Luhn-valid Visa numbers, each behind "Order #": the first 64 of a direction are dropped, the
  // rest reported without context, so that a label is no way to carry card numbers out.
  auto luhnComplete = [](std::string body) {
    int sum = 0;
    for (size_t i = 0; i < body.size(); ++i) {
      int d = body[body.size() - 1 - i] - '0';
      if (i % 2 == 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    return body + static_cast<char>('0' + (10 - sum % 10) % 10);
  };
  std::string text;
  for (int i = 0; i < 70; ++i) {
    char body[16];
    std::snprintf(body, sizeof body, "455673%09d", 100000 + i * 7919);
    text += "Order #" + luhnComplete(body) + " shipped\n";
  }
  const auto found = scanChunks(shipped(), {text});
  REQUIRE(found.size() == 6);
  for (const auto& f : found) CHECK(f.confidence == Approx(0.85));
}

TEST_CASE("explained_by: the keyword of another class that the digits also fit names them") {
  // Twelve digits that are a Maestro card number (Luhn) and an Aadhaar number (Verhoeff) at once.
  const std::string v = "5636 6712 7689";
  struct Case {
    std::string text;
    std::vector<std::string> found;
  };
  for (const Case& k : std::vector<Case>{
           {"Aadhaar no: " + v + " ", {"aadhaar"}},
           {v + " (Aadhaar) ", {"aadhaar"}},  // the card waits for the keyword after it
           {"Card number: " + v + " ", {"payment-card"}},
           {"Aadhaar on file. Card: " + v + " ", {"payment-card"}},
           {"Card on file. Aadhaar: " + v + " ", {"aadhaar"}},
           {"paid " + v + " ", {"payment-card"}},                   // no keyword: a card; an Aadhaar number needs one
           {"Aadhaar no: 4556 7375 8689 9855 ", {"payment-card"}},  // no Aadhaar number: nothing to explain
       }) {
    INFO(k.text);
    CHECK(classesOf(sameAtEveryCut(shipped(), k.text)) == k.found);
  }
  auto plain = scanChunks(shipped(), {"paid " + v + " "});
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].confidence == Approx(0.85));
  CHECK(plain[0].offset == 5 + v.size());
}

TEST_CASE("min_confidence: a class reports nothing below its floor") {
  auto build = [](const std::string& floor) {
    auto d = parseClass(
        "name: c\ndetectors:\n  patterns: [{run: {bytes: '0-9', joiners: ' ', min_length: 9}}]\n"
        "  validator: luhn\n  max_length: 23\n  boundary: digit\n  context: {keywords: [card]}\n"
        "  confidence: {base: 0.5, with_context: 0.9}\n  min_confidence: " +
            floor + "\n",
        "c.yaml");
    INFO((d ? "" : d.error().message));
    REQUIRE(d.has_value());
    CHECK(d->min_confidence == Approx(std::stod(floor)));
    auto c = Classifier::build({*d});
    REQUIRE(c.has_value());
    return *c;
  };
  const auto low = build("0.5"), high = build("0.8");
  const std::string bare = "paid 4556 7375 8689 9855 today";
  CHECK(classesOf(scanChunks(low, {bare})) == std::vector<std::string>{"c"});  // at the floor: reported
  CHECK(scanChunks(high, {bare}).empty());
  auto before = sameAtEveryCut(high, "card 4556 7375 8689 9855 today");
  REQUIRE(before.size() == 1);
  CHECK(before[0].confidence == Approx(0.9));
  // Below the floor without a keyword, a value waits for one after it, as with context.required.
  auto after = sameAtEveryCut(high, "4556 7375 8689 9855 is the card");
  REQUIRE(after.size() == 1);
  CHECK(after[0].confidence == Approx(0.9));
}

TEST_CASE("negative keywords, explained_by and confidence floors: errors name the file and line") {
  const std::string head =
      "name: x\ndetectors:\n  patterns: [{run: {bytes: '0-9', min_length: 9}}]\n  validator: luhn\n";
  struct Bad {
    std::string yaml;
    const char* says;
  };
  for (
      const Bad& b : std::vector<Bad>{
          {head + "  min_confidence: 2\n", "x.yaml:5: min_confidence: 2 is out of range"},
          {head + "  confidence: {base: 0.5}\n  min_confidence: 0.7\n",
           "x.yaml:6: min_confidence is above the highest confidence the class reports (confidence.base)"},
          {head +
               "  context: {keywords: [card]}\n  confidence: {base: 0.5, with_context: 0.9}\n  min_confidence: 0.95\n",
           "x.yaml:7: min_confidence is above the highest confidence the class reports (with_context)"},
          {head + "  context: {negative_keywords: [order], negative_window: 200}\n",
           "x.yaml:5: context.negative_window: 200 is out of range [1, 128]"},
          {head + "  max_length: 64\n  context:\n    negative_window: 60\n    negative_keywords: [purchase order]\n",
           "x.yaml:8: context.negative_keywords: max_length (64) + negative_window (60) + the longest negative keyword "
           "(14) must be at most 128"},
          {head + "  context: {negative_window: 10}\n", "x.yaml:5: context.negative_window needs negative_keywords"},
          {head + "  context: {negative_keywords: [order, '']}\n",
           "x.yaml:5: context.negative_keywords: empty keyword"},
          {head + "  context: {explained_by: [x]}\n", "x.yaml:5: context.explained_by: a class cannot explain its own"},
          {head + "  context: {explained_by: [y, y]}\n", "x.yaml:5: context.explained_by: 'y' is listed twice"},
          {head + "policy:\n  rules:\n    - {to: internet, action: block, min_confidence: 1.5}\n",
           "x.yaml:7: policy rule: min_confidence: 1.5 is out of range"},
      }) {
    auto r = parseClass(b.yaml, "x.yaml");
    INFO(b.yaml << " -> " << (r ? std::string("accepted") : r.error().message));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.rfind(b.says, 0) == 0);
  }
  auto rule =
      parseClass(head + "policy:\n  rules:\n    - {to: internet, action: block, min_confidence: 0.9}\n", "x.yaml");
  REQUIRE(rule.has_value());
  REQUIRE(rule->policy.rules.size() == 1);
  CHECK(rule->policy.rules[0].min_confidence == Approx(0.9));
  CHECK(rule->policy.rules[0].action == Action::kBlock);

  // explained_by names other classes: checked when the classes are built together.
  auto x = parseClass(head + "  context: {explained_by: [y]}\n", "x.yaml");
  REQUIRE(x.has_value());
  auto unknown = Classifier::build({*x});
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().message.rfind("x.yaml:5: context.explained_by: no class 'y'", 0) == 0);
  auto y = parseClass("name: y\ndetectors:\n  patterns: [{run: {bytes: '0-9', min_length: 9}}]\n", "y.yaml");
  REQUIRE(y.has_value());
  auto mute = Classifier::build({*x, *y});
  REQUIRE_FALSE(mute.has_value());
  CHECK(mute.error().message.rfind("x.yaml:5: context.explained_by: 'y' needs 1 to 64 context keywords", 0) == 0);
}

TEST_CASE("the compiled database is cached by content and reused") {
  TempDir t;
  auto classes = loadClasses(kShipped);
  REQUIRE(classes.has_value());
  auto first = Classifier::build(*classes, {t.path().string()});
  REQUIRE(first.has_value());
  CHECK_FALSE((*first)->fromCache());
  auto second = Classifier::build(*classes, {t.path().string()});
  REQUIRE(second.has_value());
  CHECK((*second)->fromCache());
  CHECK((*second)->databaseKey() == (*first)->databaseKey());
  CHECK(scanChunks(*second, {"card 4556737586899855"}).size() == 1);
  // A changed class is a different key: compiled afresh.
  auto withPattern =
      std::find_if(classes->begin(), classes->end(), [](const DataClass& d) { return !d.patterns.empty(); });
  REQUIRE(withPattern != classes->end());
  withPattern->patterns[0].expression += "|\\bzzzz\\b";
  auto third = Classifier::build(*classes, {t.path().string()});
  REQUIRE(third.has_value());
  CHECK_FALSE((*third)->fromCache());
}

namespace {
struct Collect : TcpReassembler::Sink {
  std::string got;
  uint64_t gaps = 0;
  void bytes(const uint8_t* d, size_t n) override { got.append(reinterpret_cast<const char*>(d), n); }
  void gap(uint64_t n) override {
    gaps += n;
    got += std::string(n, '?');
  }
};
void seg(TcpReassembler& r, Collect& c, uint32_t seq, const std::string& s) {
  r.segment(seq, false, reinterpret_cast<const uint8_t*>(s.data()), s.size(), c);
}
}  // namespace

TEST_CASE("reassembly delivers in order once, holds reordered segments and reports gaps") {
  TcpReassembler r;
  Collect c;
  r.segment(999, true, nullptr, 0, c);  // SYN: data starts at 1000
  seg(r, c, 1000, "hello ");
  seg(r, c, 1010, "world");   // early: held
  seg(r, c, 1000, "hello ");  // retransmission: trimmed
  CHECK(c.got == "hello ");
  seg(r, c, 1003, "lo big w");  // overlaps delivered bytes and the held segment
  CHECK(c.got == "hello big world");
  CHECK(r.retransmittedBytes() == 6 + 3 + 1);  // "hello ", "lo ", and the "w" that overlapped the held segment
  seg(r, c, 1030, "tail");
  r.finish(c);
  CHECK(c.gaps == 15);
  CHECK(c.got == "hello big world" + std::string(15, '?') + "tail");
}

TEST_CASE("reassembly gives up on a hole when the held bytes pass the bound, and says so") {
  TcpReassembler r({16, 8});
  Collect c;
  seg(r, c, 0, "abc");
  seg(r, c, 10, "0123456789");  // hole 3..9
  CHECK(c.gaps == 0);
  seg(r, c, 20, "ABCDEFGHIJ");  // 20 held bytes > 16: the hole is given up
  CHECK(c.gaps == 7);
  CHECK(c.got == "abc???????0123456789ABCDEFGHIJ");
  CHECK(r.heldBytes() == 0);
}

TEST_CASE("reassembly, inline: what would overflow the hold is said before it is taken; differing overlaps are found") {
  TcpReassembler r({16, 8});
  Collect c;
  seg(r, c, 0, "abc");
  CHECK_FALSE(r.wouldOverflow(3, 100, 1000));  // in order: delivered at once, never held
  CHECK_FALSE(r.wouldOverflow(10, 10, 1000));
  seg(r, c, 10, "0123456789");
  CHECK(r.wouldOverflow(20, 10, 1000));       // 20 held bytes > 16
  CHECK(r.wouldOverflow(30, 2, 1));           // past the caller's own room
  CHECK_FALSE(r.wouldOverflow(10, 5, 1000));  // a shorter copy of a held segment grows nothing
  CHECK(r.wouldOverflow(10, 17, 1000));       // a longer one does
  const std::string same = "2345", other = "23X5";
  CHECK_FALSE(r.conflicts(12, reinterpret_cast<const uint8_t*>(same.data()), 4));
  CHECK(r.conflicts(12, reinterpret_cast<const uint8_t*>(other.data()), 4));
  // A copy that starts behind another held one but reaches past it (found by fuzz.tcp_normalizer).
  seg(r, c, 11, "1");
  CHECK(r.conflicts(15, reinterpret_cast<const uint8_t*>("X"), 1));
  CHECK(c.gaps == 0);
  CHECK(r.nextSeq() == 3);
}

TEST_CASE("sequence numbers wrap around") {
  TcpReassembler r;
  Collect c;
  seg(r, c, 0xfffffffc, "abcd");
  seg(r, c, 4, "ijkl");
  seg(r, c, 0, "efgh");
  CHECK(c.got == "abcdefghijkl");
}

TEST_CASE("exact data match: a CSV column becomes keyed hashes; only listed identifiers are found") {
  TempDir t;
  const std::string key = "0123456789abcdef0123456789abcdef";
  std::string csv =
      "id,name,\"note, with comma\"\nC-100234,Ada,\"said \"\"hi\"\"\"\nc-100777,Bob,x\nC-100234,Ada,dup\n,Nobody,x\n";
  auto built = buildExactMatch(csv, "customers.csv", "id", ExactMatch::Normalise::kLower, key);
  REQUIRE(built.has_value());
  CHECK(built->rows == 4);
  CHECK(built->values == 2);
  CHECK(built->duplicates == 1);
  CHECK(built->empty == 1);
  CHECK(built->hashes.find("100234") == std::string::npos);  // no clear value in the file
  CHECK(built->hashes.rfind("goldgate-edm 1\n", 0) == 0);
  t.write("customers.edm", built->hashes);
  t.write("edm.key", key);
  auto d = parseClass(
      "name: customer-id\ndetectors:\n  patterns: [{regex: '[Cc]-\\d{6}\\b'}]\n"
      "exact_match: {hashes: customers.edm, key_file: edm.key, normalise: lower}\n",
      (t.path() / "customer-id.yaml").string());
  REQUIRE(d.has_value());
  auto c = Classifier::build({*d});
  INFO((c ? "" : c.error().message));
  REQUIRE(c.has_value());
  auto f = scanChunks(*c, {"order for C-100", "777 and for c-100234, not for C-100235."});
  REQUIRE(f.size() == 2);
  CHECK(f[0].offset == std::string("order for C-100777").size());
  CHECK(f[1].cls == "customer-id");
  // Errors name the file and line.
  auto badCol = buildExactMatch(csv, "customers.csv", "email", ExactMatch::Normalise::kExact, key);
  REQUIRE_FALSE(badCol.has_value());
  CHECK(badCol.error().message.rfind("customers.csv:1: no column 'email'", 0) == 0);
  auto badRow = buildExactMatch("a,b\n1,2\n3\n", "x.csv", "a", ExactMatch::Normalise::kExact, key);
  REQUIRE_FALSE(badRow.has_value());
  CHECK(badRow.error().message.rfind("x.csv:3: 1 fields, the header has 2", 0) == 0);
}

TEST_CASE("a chunk that ends right before an unmapped page is scanned without reading past it") {
  // Hyperscan's AVX-512 literal matcher loads a whole vector at the end of its input; the scanner
  // must keep that load off the next page. The fuzz input that found it ends exactly at a page.
  const long page = sysconf(_SC_PAGESIZE);
  void* m = mmap(nullptr, static_cast<size_t>(2 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(m != MAP_FAILED);
  auto* base = static_cast<uint8_t*>(m);
  REQUIRE(mprotect(base + page, static_cast<size_t>(page), PROT_NONE) == 0);
  const std::vector<std::string> inputs = {
      std::string("10\0\0ab.or\0X@ob\0.Jo0@b.or\0X@b.o-r", 32),  // the fuzz input
      "mail to ab@example.org",
      "card 4556 7375 8689 9855",
      std::string(300, 'x') + " card 4556 7375 8689 9855",
      "a",
  };
  auto sc = Scanner::create(shipped());
  REQUIRE(sc.has_value());
  for (const auto& in : inputs) {
    for (size_t slack : {0, 1, 17, 63, 64, 65}) {
      uint8_t* at = base + page - static_cast<long>(in.size() + slack);
      std::memcpy(at, in.data(), in.size());
      StreamState st;
      (*sc)->open(st);
      std::vector<Finding> out;
      (*sc)->scan(st, at, in.size(), out);
      (*sc)->close(st, out);
      // The same as scanning it from an ordinary string.
      auto expect = scanChunks(shipped(), {in});
      INFO("input of " << in.size() << " bytes, " << slack << " bytes before the page end");
      REQUIRE(out.size() == expect.size());
      for (size_t i = 0; i < out.size(); ++i) CHECK(out[i].offset == expect[i].offset);
    }
  }
  munmap(m, static_cast<size_t>(2 * page));
}

TEST_CASE("the engine finds the same on the fallback path (no AVX-512 VBMI) as on the fast one") {
  REQUIRE_FALSE(shippedScalar()->classes().empty());
  // Values of most classes, near misses, keywords, and text dense in the runs the detectors look
  // for (digit groups, dates, ids, base64, capitals), in random order, cut into random pieces.
  const std::vector<std::string> snippets = {
      "card 4556 7375 8689 9855",
      "4556737586899855",
      "card 4556 7375 8689 9856",
      "4111 1111 1111 1111",
      "iban GB82 WEST 1234 5698 7654 32",
      "GB82WEST12345698765432",
      "ssn 536-22-1245",
      "536 22 1245",
      "Aadhaar no: 2341 2341 2346",
      "2341 2341 2346 is my aadhaar",
      "Invoice No. 4556 7375 8689 9855",
      "Aadhaar no: 5636 6712 7689",
      "5636 6712 7689 (Aadhaar)",
      "routing 021000021",
      "NHS 943 476 5919",
      "api_key=Zx8Qm2Lp9Vt4Rb7Nc1Hs5Kd3Wf6Gy0Aj_e-XuTo",
      "2026-05-12",
      "12345678,",
      "1234.56",
      "ABCDEFGHJK23",
      "00000000-0000-0000-0000-000000000000",
      "9999999999999999999999999",
      "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcA==",
      "1 2 3 4 5 6 7 8 9 0 1 2",
      "mail jane.doe@example.org",
      "key AKIAZ3MHQ4WBXPLE7QNA",
      "-----BEGIN PRIVATE KEY-----\n",
      " ",
      "\n",
      "-",
      "--",
  };
  std::mt19937 rng(20261127);
  const std::string noise = "0123456789    --abcXYZ_=.,\n";
  size_t total = 0;
  std::set<std::string> seen;
  for (int doc = 0; doc < 300; ++doc) {
    std::string text;
    while (text.size() < 3000) {
      if (rng() % 3 == 0) {
        for (unsigned n = rng() % 40; n > 0; --n) text += noise[rng() % noise.size()];
      } else {
        text += snippets[rng() % snippets.size()];
      }
    }
    std::vector<std::string> chunks;
    for (size_t at = 0; at < text.size();) {
      size_t n = std::min<size_t>(text.size() - at, 1 + rng() % (rng() % 4 == 0 ? 8 : 700));
      chunks.push_back(text.substr(at, n));
      at += n;
    }
    auto fast = scanChunks(shipped(), chunks);
    auto slow = scanChunks(shippedScalar(), chunks);
    INFO("document " << doc << ": " << text);
    REQUIRE(fast.size() == slow.size());
    for (size_t i = 0; i < fast.size(); ++i) {
      CHECK(fast[i].cls == slow[i].cls);
      CHECK(fast[i].offset == slow[i].offset);
      CHECK(fast[i].masked == slow[i].masked);
      CHECK(fast[i].confidence == slow[i].confidence);
      seen.insert(fast[i].cls);
    }
    total += fast.size();
  }
  // Not vacuous: the documents hold findings of the run-detected classes.
  CHECK(total > 1000);
  for (const char* c : {"payment-card", "iban", "us-ssn", "aadhaar", "us-routing", "uk-nhs", "api-token"}) {
    INFO(c);
    CHECK(seen.count(c) == 1);
  }
}

TEST_CASE("after a gap, values are found again, at their offsets in the direction's byte stream") {
  // Hyperscan's stream restarts after a gap (its offsets from 0); the run detectors' do not.
  auto sc = Scanner::create(shipped());
  REQUIRE(sc.has_value());
  StreamState st;
  (*sc)->open(st);
  std::vector<Finding> out;
  const std::string before = "mail jane.doe@example.org, ";
  const std::string after = "then ops@example.net and card 4556 7375 8689 9855 end";
  (*sc)->scan(st, reinterpret_cast<const uint8_t*>(before.data()), before.size(), out);
  (*sc)->skip(st, 1000, out);
  (*sc)->scan(st, reinterpret_cast<const uint8_t*>(after.data()), after.size(), out);
  (*sc)->close(st, out);
  std::vector<std::pair<std::string, uint64_t>> got;
  for (const auto& f : out) got.emplace_back(shipped()->classes()[f.class_index].name, f.offset);
  const uint64_t base = before.size() + 1000;
  CHECK(got == std::vector<std::pair<std::string, uint64_t>>{{"email", before.find(",")},
                                                             {"email", base + after.find(" and")},
                                                             {"payment-card", base + after.find(" end")}});
}

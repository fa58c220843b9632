// libFuzzer target: the classifier's input. Arbitrary payload bytes go through the shipped classes
// as TCP segments in an order the input chooses (reordering, overlaps, retransmissions, holes);
// no crash, and every finding's masked sample has no more than four clear alphanumerics beyond an
// IBAN country code. The shipped classes' run detectors, fed the input in the same pieces, report
// exactly what their byte machine reading the input whole reports.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "goldgate/datapolicy/classes.h"
#include "goldgate/datapolicy/engine.h"
#include "goldgate/datapolicy/reassembly.h"
#include "goldgate/datapolicy/runs.h"

using namespace goldgate::datapolicy;

namespace {
std::shared_ptr<const Classifier> classifier() {
  static std::shared_ptr<const Classifier> c = [] {
    auto classes = loadClasses(GOLDGATE_SOURCE_DIR "/configs/datapolicy");
    if (!classes) std::abort();
    auto b = Classifier::build(std::move(*classes));
    if (!b) std::abort();
    return *b;
  }();
  return c;
}

const RunSet& shippedRuns() {
  static RunSet r = [] {
    std::vector<RunSpec> kinds;
    for (const auto& d : classifier()->classes())
      for (const auto& run : d.runs) kinds.push_back(run.spec);
    auto b = RunSet::build(std::move(kinds));
    if (!b) std::abort();
    return std::move(*b);
  }();
  return r;
}

std::vector<RunEnd> byKind(std::vector<RunEnd> v) {
  std::stable_sort(v.begin(), v.end(), [](const RunEnd& a, const RunEnd& b) { return a.first < b.first; });
  return v;
}

struct Feed : TcpReassembler::Sink {
  Scanner* sc;
  StreamState* st;
  std::vector<Finding>* out;
  void bytes(const uint8_t* d, size_t n) override { sc->scan(*st, d, n, *out); }
  void gap(uint64_t n) override { sc->skip(*st, n, *out); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > 16384) return 0;
  static auto scanner = Scanner::create(classifier());
  Scanner& sc = **scanner;
  StreamState st;
  sc.open(st);
  std::vector<Finding> out;
  Feed feed;
  feed.sc = &sc;
  feed.st = &st;
  feed.out = &out;
  TcpReassembler r(ReassemblyLimits{4096, 16});
  // The first byte picks a segment size; each segment's first byte nudges its sequence number.
  size_t seg = 1 + data[0] % 64;
  const uint8_t* p = data + 1;
  size_t left = size - 1;
  uint32_t seq = 1000;
  while (left > 0) {
    size_t n = std::min(seg, left);
    int32_t jitter = static_cast<int8_t>(p[0]) % 8;
    r.segment(seq + static_cast<uint32_t>(jitter * static_cast<int32_t>(n)), false, p, n, feed);
    seq += static_cast<uint32_t>(n);
    p += n;
    left -= n;
  }
  r.finish(feed);
  sc.close(st, out);
  // Run detectors: the filtered path in pieces of the chosen size against the byte machine.
  const RunSet& runs = shippedRuns();
  std::vector<RunState> a(runs.states()), b(runs.states());
  std::vector<RunEnd> pieces, whole;
  for (size_t off = 1; off < size; off += seg)
    runs.scan(a.data(), data + off, std::min(seg, size - off), off - 1, pieces);
  runs.finish(a.data(), size - 1, pieces);
  runs.scanScalar(b.data(), data + 1, size - 1, 0, whole);
  runs.finish(b.data(), size - 1, whole);
  if (byKind(pieces) != byKind(whole)) std::abort();
  for (const auto& f : out) {
    size_t clear = 0;
    for (char c : f.masked) clear += std::isalnum(static_cast<unsigned char>(c)) ? 1 : 0;
    if (clear > 6) std::abort();
  }
  return 0;
}

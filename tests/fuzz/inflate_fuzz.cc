// libFuzzer target: the streaming Inflater over arbitrary bytes, fed in pieces whose sizes the input
// chooses, in both formats. Holds: no crash or sanitizer report, never more output than the budget,
// a stream that ended stays ended.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "goldgate/datapolicy/inflate.h"

using goldgate::datapolicy::InflateBudget;
using goldgate::datapolicy::Inflater;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 64;
  const auto format = data[1] & 1 ? Inflater::Format::kRaw : Inflater::Format::kAuto;
  data += 2, size -= 2;
  InflateBudget budget;
  budget.max_output = 1u << 20;
  budget.max_ratio = 50;
  Inflater inf(format, budget);
  uint64_t produced = 0;
  auto emit = [&](const uint8_t*, size_t n) { produced += n; };
  Inflater::Status s = Inflater::Status::kMore;
  while (size > 0 && s == Inflater::Status::kMore) {
    const size_t n = step < size ? step : size;
    s = inf.feed(data, n, emit);
    data += n, size -= n;
  }
  if (s == Inflater::Status::kMore) s = inf.finish();
  if (produced > budget.max_output || produced != inf.produced()) std::abort();
  if (inf.feed(data, size, emit) != s) std::abort();  // over is over
  return 0;
}

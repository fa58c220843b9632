// libFuzzer target: FragmentGather (dataplane/fragments.h) against a byte-by-byte model. The input
// is a sequence of fragments, 5 bytes each (offset in 8-byte units, length, "last" flag); the
// gather must refuse exactly what the model refuses (an overlap, two ends, bytes past the end,
// a payload past 64 KiB), be whole exactly when the model is, and give back the bytes sent.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "goldgate/dataplane/fragments.h"

using goldgate::dataplane::FragmentGather;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FragmentGather g;
  std::vector<int> owner;  // per byte: which fragment brought it (-1: none yet)
  uint32_t total = 0;      // the model's end, once a last fragment came
  bool bad = false;
  std::string expect;
  for (size_t i = 0; i + 5 <= size && i < 5 * 64; i += 5) {
    const uint32_t off = (uint32_t{data[i]} | uint32_t{data[i + 1]} << 8) % 8192 * 8;
    const uint32_t len = (uint32_t{data[i + 2]} | uint32_t{data[i + 3]} << 8) % 2048;
    const bool last = data[i + 4] & 1;
    const int id = static_cast<int>(i / 5);
    const std::string bytes(len, static_cast<char>('A' + id % 26));
    // The model.
    bool refuse = bad;
    const uint64_t end = uint64_t{off} + len;
    if (!refuse && end > FragmentGather::kMaxPayload) refuse = true;
    if (!refuse && last && total && total != end) refuse = true;
    if (!refuse && total && end > total) refuse = true;
    uint32_t furthest = 0;
    for (uint32_t b = 0; b < owner.size(); ++b)
      if (owner[b] >= 0) furthest = b + 1;
    if (!refuse && last && furthest > end) refuse = true;
    for (uint32_t b = off; !refuse && b < end && b < owner.size(); ++b)
      if (owner[b] >= 0) refuse = true;
    const bool got = g.add(off, reinterpret_cast<const uint8_t*>(bytes.data()), len, last);
    if (got == refuse) std::abort();  // accepted what the model refuses, or the other way round
    if (refuse) {
      bad = true;
    } else {
      if (last) total = static_cast<uint32_t>(end);
      if (len && end > owner.size()) owner.resize(end, -1), expect.resize(end, '\0');
      for (uint32_t b = off; b < end; ++b) owner[b] = id, expect[b] = bytes[b - off];
    }
    if (g.bad() != bad) std::abort();
    bool whole = !bad && total > 0 && owner.size() >= total;
    for (uint32_t b = 0; whole && b < total; ++b) whole = owner[b] >= 0;
    if (g.complete() != whole) std::abort();
    if (whole) {
      if (g.take() != expect) std::abort();
      return 0;
    }
  }
  return 0;
}

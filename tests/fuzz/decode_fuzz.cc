// libFuzzer target: the ContentDecoder (HTTP, multipart, codings, ZIP, PDF, XML, base64 runs, TLS
// and entropy) over arbitrary bytes fed in pieces whose sizes the input chooses, with small
// budgets so that the bounds are reached. Holds: no crash or sanitizer report; leaves never nest;
// decoded bytes within the budget; decoder memory within its bound and all of it given back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "goldgate/datapolicy/decode.h"

using namespace goldgate::datapolicy;

namespace {
struct Checked : ContentDecoder::Sink {
  bool open = false;
  uint64_t bytes_in_leaves = 0;
  void begin(std::string_view path) override {
    if (open || path.empty()) std::abort();
    open = true;
  }
  void bytes(const uint8_t*, size_t n) override {
    if (!open) std::abort();
    bytes_in_leaves += n;
  }
  void end() override {
    if (!open) std::abort();
    open = false;
  }
  void unreadable(Unreadable, std::string_view path, std::string_view) override {
    if (path.empty()) std::abort();
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 128;
  DecodeLimits lim;
  lim.max_output = 4u << 20;
  lim.max_ratio = 20 + data[1] % 100;
  lim.max_memory = 160u << 10;
  lim.max_depth = 1 + data[1] % 8;
  lim.min_base64_run = 64 + data[1] % 64;
  data += 2, size -= 2;
  DecodeMemory mem{1u << 20, 0};
  {
    ContentDecoder dec(lim, &mem);
    Checked sink;
    uint64_t peak = 0;
    while (size > 0) {
      const size_t n = step < size ? step : size;
      dec.feed(data, n, sink);
      data += n, size -= n;
      if (dec.memory() > peak) peak = dec.memory();
    }
    dec.finish(sink);
    if (sink.open || dec.memory() != 0 || peak > lim.max_memory) std::abort();
    // What decoders produce is bounded (a layer costs its budget share too).
    if (dec.produced() > lim.max_output + (64u << 10)) std::abort();
  }
  if (mem.used != 0) std::abort();
  return 0;
}

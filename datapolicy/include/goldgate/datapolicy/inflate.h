// Inflater: a gzip, zlib or raw deflate stream decoded as it arrives, in pieces of any size, within
// a budget: the bytes it may produce in all, and the ratio of produced to consumed bytes (a
// decompression bomb costs its sender, not the reader). Gzip members that follow one another are
// one stream, as gzip(1) reads them. The first layer of the content decoders (HTTP bodies,
// archives, documents) that classification reads through; `goldgatectl classify` reads .gz files
// with it.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace goldgate::datapolicy {

struct InflateBudget {
  uint64_t max_output = 64ull << 20;  // bytes produced in all
  uint32_t max_ratio = 200;           // produced / consumed, checked once 1 MiB has been produced
};

/// Where zlib's state and window come from (`zalloc` null: the C heap): a caller that bounds its
/// memory counts them there, and a refused allocation ends the stream as kBad ("out of memory").
struct InflateAllocator {
  alloc_func zalloc = nullptr;
  free_func zfree = nullptr;
  void* opaque = nullptr;
};

class Inflater {
 public:
  enum class Format : uint8_t { kAuto /* gzip or zlib, from the header */, kRaw /* deflate without header */ };
  enum class Status : uint8_t {
    kMore,    // took everything given; the stream goes on
    kDone,    // the stream ended (bytes after it are not part of it: consumed() says where)
    kBad,     // not a valid stream: reason()
    kBudget,  // over the budget: reason(); nothing more is produced
  };
  /// Produced bytes, in order, as they are decoded.
  using Emit = std::function<void(const uint8_t* data, size_t len)>;

  explicit Inflater(Format format = Format::kAuto, InflateBudget budget = {}, InflateAllocator alloc = {});
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  /// Decodes `len` more bytes of the stream. After kDone, kBad or kBudget the stream is over and
  /// further calls return the same status.
  Status feed(const uint8_t* data, size_t len, const Emit& emit);
  /// The stream's input ended: kDone if it was complete, else kBad ("truncated").
  Status finish();
  /// Called from `emit`: the reader wants no more. feed() returns kBudget with `why` as soon as the
  /// current piece of output is handed on, rather than decoding the rest of its input.
  void cancel(std::string why);
  const std::string& reason() const { return reason_; }
  uint64_t consumed() const { return in_; }
  uint64_t produced() const { return out_; }

  /// A gzip member starts here (its two magic bytes).
  static bool looksGzip(const uint8_t* data, size_t len) { return len >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

 private:
  Status fail(Status s, std::string why);
  z_stream z_{};
  bool ready_ = false;
  Format format_;
  InflateBudget budget_;
  Status status_ = Status::kMore;
  bool gzip_ = false;          // the stream is gzip (members may follow one another)
  bool member_ended_ = false;  // a gzip member ended: another may follow
  uint64_t in_ = 0, out_ = 0;
  std::string reason_;
};

}  // namespace goldgate::datapolicy

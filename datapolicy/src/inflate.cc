#include "goldgate/datapolicy/inflate.h"

#include <algorithm>

namespace goldgate::datapolicy {

namespace {
constexpr size_t kChunk = 16 << 10;           // produced bytes handed to emit at a time
constexpr uint64_t kRatioAfter = 1ull << 20;  // the ratio is judged once this much was produced
}  // namespace

Inflater::Inflater(Format format, InflateBudget budget, InflateAllocator alloc) : format_(format), budget_(budget) {
  z_.zalloc = alloc.zalloc;
  z_.zfree = alloc.zfree;
  z_.opaque = alloc.opaque;
  // 15 + 32: zlib or gzip, told apart by the header; -15: raw deflate.
  ready_ = inflateInit2(&z_, format == Format::kRaw ? -15 : 15 + 32) == Z_OK;
  if (!ready_) fail(Status::kBad, "cannot set up the decoder (out of memory)");
}

Inflater::~Inflater() {
  if (ready_) inflateEnd(&z_);
}

Inflater::Status Inflater::fail(Status s, std::string why) {
  status_ = s;
  reason_ = std::move(why);
  return s;
}

void Inflater::cancel(std::string why) {
  if (status_ == Status::kMore) fail(Status::kBudget, std::move(why));
}

Inflater::Status Inflater::feed(const uint8_t* data, size_t len, const Emit& emit) {
  if (status_ != Status::kMore) return status_;
  uint8_t out[kChunk];
  // A zlib header's first byte names deflate in its low four bits: 0x1f can only start gzip.
  if (in_ == 0 && len > 0 && format_ == Format::kAuto) gzip_ = data[0] == 0x1f;
  while (len > 0) {
    if (member_ended_) {
      // After a gzip member: another member, or the end of the stream (what follows is not ours).
      if (!looksGzip(data, len) && !(len == 1 && data[0] == 0x1f)) return fail(Status::kDone, "");
      inflateReset(&z_);
      member_ended_ = false;
    }
    z_.next_in = const_cast<Bytef*>(data);
    z_.avail_in = static_cast<uInt>(std::min<size_t>(len, 1u << 30));
    const uInt given = z_.avail_in;
    int rc;
    do {
      z_.next_out = out;
      z_.avail_out = sizeof out;
      rc = inflate(&z_, Z_NO_FLUSH);
      const size_t n = sizeof out - z_.avail_out;
      if (n) {
        if (out_ + n > budget_.max_output) {
          in_ += given - z_.avail_in;
          return fail(Status::kBudget,
                      "decoded size over the budget of " + std::to_string(budget_.max_output) + " bytes");
        }
        out_ += n;
        emit(out, n);
        if (status_ != Status::kMore) {  // cancelled by the reader
          in_ += given - z_.avail_in;
          return status_;
        }
        const uint64_t inSoFar = in_ + (given - z_.avail_in);
        if (out_ >= kRatioAfter && out_ > uint64_t{budget_.max_ratio} * (inSoFar ? inSoFar : 1)) {
          in_ = inSoFar;
          return fail(Status::kBudget, "expands more than " + std::to_string(budget_.max_ratio) + ":1 (" +
                                           std::to_string(out_) + " bytes from " + std::to_string(inSoFar) + ")");
        }
      }
    } while (rc == Z_OK && z_.avail_out == 0);
    const size_t used = given - z_.avail_in;
    in_ += used;
    data += used;
    len -= used;
    if (rc == Z_STREAM_END) {
      // A gzip stream may go on with another member; zlib and raw deflate end here.
      if (gzip_) {
        member_ended_ = true;
        continue;
      }
      return fail(Status::kDone, "");
    }
    if (rc == Z_BUF_ERROR && used == 0) return fail(Status::kBad, "the decoder made no progress");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return fail(Status::kBad, std::string(rc == Z_DATA_ERROR  ? "corrupt data"
                                            : rc == Z_MEM_ERROR ? "out of memory"
                                                                : "decoder error") +
                                    (z_.msg ? std::string(": ") + z_.msg : std::string()));
  }
  return Status::kMore;
}

Inflater::Status Inflater::finish() {
  if (status_ == Status::kMore && member_ended_) return fail(Status::kDone, "");
  if (status_ == Status::kMore) return fail(Status::kBad, "truncated: the stream ended before its end marker");
  return status_;
}

}  // namespace goldgate::datapolicy

// ContentDecoder: what a flow direction's bytes carry, taken out of the forms data travels in, as
// the bytes arrive. HTTP/1.x messages (Content-Length, chunked, Content-Encoding gzip / deflate /
// br), multipart/form-data and MIME parts (base64, quoted-printable), URL-encoded forms, bare base64
// runs, gzip / zlib streams, ZIP archives (stored and deflated members; the XML of Office documents
// read as text) and PDF streams (Flate, the strings of text objects), nested to a bound. What comes
// out is a sequence of *leaves*: decoded text, each with the path it was found through
// ("http.body > gzip > zip:report.csv"), for the classifier to scan.
//
// Everything is bounded per direction: the bytes decoders may produce, their ratio to the bytes
// that came in (a bomb costs its sender), the memory the decoders hold (zlib's and brotli's
// windows included, charged as they are allocated) and the nesting depth. What a bound stops, and
// what cannot be decoded, is reported (Sink::unreadable) with its reason and path, never skipped
// silently. The first bytes also say whether the content is opaque by nature (a TLS ClientHello,
// an SSH banner, or high-entropy bytes in no known container).
//
// One decoder per flow direction; not thread-safe; it allocates only while a layer is open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "goldgate/datapolicy/tls_hello.h"

namespace goldgate::datapolicy {

struct DecodeLimits {
  uint32_t max_depth = 6;             // decoding layers nested (http.body > gzip > zip:… is 3)
  uint64_t max_output = 64ull << 20;  // bytes produced by every layer of one direction
  uint32_t max_ratio = 100;           // produced / bytes of the direction, judged past 1 MiB produced
  uint32_t max_memory = 256 << 10;    // decoder state held by one direction (windows, buffers)
  uint32_t min_base64_run = 64;       // bare base64 characters before a run is decoded (64 … 128)
};

/// Memory shared by many decoders (one worker's): a decoder's allocation past either its own bound
/// or this total fails, and the decoder reports it.
struct DecodeMemory {
  uint64_t limit = 64ull << 20;
  uint64_t used = 0;
  uint64_t peak = 0;  // the most `used` has been
};

/// Why content could not be read.
enum class Unreadable : uint8_t {
  kOutputBudget,   // the direction's decoded bytes reached max_output
  kRatio,          // decoded bytes over max_ratio times the bytes received
  kMemory,         // decoder state over max_memory, or the worker's decoder memory is used up
  kDepth,          // nested deeper than max_depth
  kCorrupt,        // a stream that does not decode (a bad deflate block, an invalid base64 byte …)
  kTruncated,      // a stream that ended before its end
  kUnsupported,    // a form not decoded (a ZIP method, a stored member of unknown size, a PDF filter)
  kEncrypted,      // encrypted by the sender (an encrypted ZIP member)
  kHeaderTooLong,  // an HTTP or MIME header block over the bound
  kHighEntropy,    // bytes near 8 bits of entropy in no form decoded (encrypted, or compressed unknowingly)
};
const char* unreadableName(Unreadable u);  // "output-budget", "ratio", …
/// Whether the reason is a bound the decoder reached (the rest of the direction is not decoded).
constexpr bool isBudget(Unreadable u) {
  return u == Unreadable::kOutputBudget || u == Unreadable::kRatio || u == Unreadable::kMemory ||
         u == Unreadable::kDepth;
}

/// Content opaque by nature, told from a direction's first bytes.
enum class Opaque : uint8_t { kNone, kTls, kSsh, kHighEntropy };
const char* opaqueName(Opaque o);  // "", "tls", "ssh", "high-entropy"

class ContentDecoder {
 public:
  /// Where decoded content goes.
  class Sink {
   public:
    virtual ~Sink() = default;
    /// A leaf starts: decoded text found through `path`. Its bytes follow; leaves never nest (one
    /// is ended before the next begins).
    virtual void begin(std::string_view path) = 0;
    virtual void bytes(const uint8_t* data, size_t len) = 0;
    virtual void end() = 0;
    /// Something under `path` could not be read; `detail` says what.
    virtual void unreadable(Unreadable why, std::string_view path, std::string_view detail) = 0;
  };

  /// `shared`: the memory every decoder of the thread draws from; `group` (optional): a share of
  /// it that this decoder's kind draws from too (one VM port's, so that one VM cannot take it all).
  ContentDecoder(const DecodeLimits& limits, DecodeMemory* shared, DecodeMemory* group = nullptr);
  ~ContentDecoder();
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;

  /// The next in-order bytes of the direction.
  void feed(const uint8_t* data, size_t len, Sink& sink);
  /// Bytes that will never be seen: every open layer ends here (the gap itself is the caller's to
  /// report); nothing more is decoded in this direction.
  void gap(Sink& sink);
  /// The direction ended: open layers end (a stream cut short is reported as truncated).
  void finish(Sink& sink);

  Opaque opaque() const;
  /// The ClientHello when opaque() is kTls (else null).
  const TlsClientHello* tlsHello() const;
  /// Bytes produced by decoding so far, and decoder memory held now.
  uint64_t produced() const;
  uint64_t memory() const;
  /// Whether a budget stopped decoding in this direction.
  bool stopped() const;

  struct Context;  // internal (decode_layers.h)
  /// Bytes of the decoder's own state (its context), besides what its layers hold (memory()).
  static const size_t kStateBytes;

 private:
  std::unique_ptr<Context> ctx_;
};

}  // namespace goldgate::datapolicy

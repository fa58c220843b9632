// The layers of a ContentDecoder (decode.h), internal to datapolicy/. Each layer takes bytes of
// one form and hands what it decodes to its child: a chain from the direction's raw bytes down to
// a TextLayer, whose bytes are a leaf the classifier scans. The Context holds what the layers of
// one direction share: the sink, the budgets, the memory meter and the one open leaf.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "goldgate/datapolicy/decode.h"

namespace goldgate::datapolicy {

class Layer;

struct ContentDecoder::Context {
  DecodeLimits lim;
  DecodeMemory* shared = nullptr;
  DecodeMemory* group = nullptr;  // a share of `shared` (one VM port's), or null
  Sink* sink = nullptr;           // set for the length of each call into the decoder
  uint64_t in = 0;                // bytes of the direction fed
  uint64_t produced = 0;
  uint64_t mem = 0;         // held by this direction's decoders
  bool mem_failed = false;  // an allocation was refused (a decoder's error is really this)
  bool stopped = false;     // a budget ended decoding in this direction
  bool settled = false;     // the root is the layer the stream's first bytes chose
  Opaque opaque = Opaque::kNone;
  std::unique_ptr<TlsClientHello> hello;
  std::unique_ptr<Layer> root;
  const Layer* leaf = nullptr;  // the layer whose leaf is open in the sink

  /// Bytes (of `path`) produced by a decoder: false, with decoding stopped and reported, past the
  /// output or ratio budget.
  bool produce(uint64_t n, std::string_view path);
  /// Memory for decoder state: false when over a bound (the allocation is not made).
  bool charge(uint64_t n);
  void release(uint64_t n);
  void* alloc(size_t n);  // charged; null when refused
  void free(void* p);
  /// Something under `path` cannot be read; a budget reason stops the direction's decoding.
  void report(Unreadable why, std::string_view path, std::string_view detail);
  /// Leaf bytes: gathered (per thread, within one call into the decoder) and handed to the sink in
  /// pieces of up to 16 KiB, so that decoders that produce a line at a time cost one scan call.
  void emit(const Layer* owner, const std::string& path, const uint8_t* d, size_t n);
  void endLeaf(const Layer* owner);
  void flushLeaf();
};

/// A stage of decoding. Layers are made through Layer::make (charged to the context) and hold their
/// child; `path` names what they hold ("http.body > gzip").
class Layer {
 public:
  using Context = ContentDecoder::Context;
  Layer(Context& ctx, std::string path, uint32_t depth) : ctx_(ctx), path_(std::move(path)), depth_(depth) {}
  virtual ~Layer() = default;
  /// The next bytes of this layer's input.
  virtual void feed(const uint8_t* d, size_t n) = 0;
  /// The input ended: `complete` false when it was cut (a gap), so nothing is reported as truncated.
  virtual void end(bool complete) = 0;
  /// A layer that only chose what follows it (the stream's first layer): that layer, to take its
  /// place, once chosen and fed (null until then, and for other layers).
  virtual std::unique_ptr<Layer> settled() { return nullptr; }
  const std::string& path() const { return path_; }
  uint32_t depth() const { return depth_; }

  /// Makes a layer under `parent` named `name` (a path component, or empty: the parent's path), or
  /// null with the reason reported (too deep, no memory). The layer's size is charged until it goes.
  template <typename L, typename... A>
  static std::unique_ptr<L> make(Context& ctx, const std::string& parentPath, uint32_t parentDepth,
                                 std::string_view name, A&&... args);
  static void destroyed(Context& ctx, size_t size) { ctx.release(size); }

 protected:
  Context& ctx_;
  std::string path_;
  uint32_t depth_;
};

/// A layer that hands what it decodes to one inner layer, and ends it when its own input ends.
class FilterLayer : public Layer {
 public:
  FilterLayer(Context& ctx, std::string path, uint32_t depth, std::unique_ptr<Layer> inner)
      : Layer(ctx, std::move(path), depth), inner_(std::move(inner)) {}
  void end(bool complete) override {
    if (!inner_) return;
    inner_->end(complete);
    inner_.reset();
  }

 protected:
  std::unique_ptr<Layer> inner_;
};

/// The cost charged to the output budget for each layer made: a stream of tiny archive members
/// costs its sender as much as the bytes they would decode to.
constexpr uint64_t kLayerCost = 512;

template <typename L>
struct Charged final : L {
  template <typename... A>
  explicit Charged(A&&... args) : L(std::forward<A>(args)...) {}
  ~Charged() override { Layer::destroyed(this->ctx_, sizeof(Charged)); }
};

std::string joinPath(const std::string& parent, std::string_view name);

template <typename L, typename... A>
std::unique_ptr<L> Layer::make(Context& ctx, const std::string& parentPath, uint32_t parentDepth, std::string_view name,
                               A&&... args) {
  std::string path = name.empty() ? parentPath : joinPath(parentPath, name);
  const uint32_t depth = parentDepth + (name.empty() ? 0 : 1);
  if (ctx.stopped) return nullptr;
  if (depth > ctx.lim.max_depth) {
    ctx.report(Unreadable::kDepth, path, "nested deeper than " + std::to_string(ctx.lim.max_depth) + " layers");
    return nullptr;
  }
  if (!ctx.produce(kLayerCost, path)) return nullptr;
  if (!ctx.charge(sizeof(Charged<L>))) {
    ctx.report(Unreadable::kMemory, path, "decoder memory used up");
    return nullptr;
  }
  return std::make_unique<Charged<L>>(ctx, std::move(path), depth, std::forward<A>(args)...);
}

// What content is, from its first bytes: a container opened with its decoder, or text.
// `transformed`: the bytes differ from the direction's raw bytes (so they are a leaf of their
// own); `name`: a file name, when one is known (an archive member, a multipart part).
std::unique_ptr<Layer> makeSniff(Layer::Context& ctx, const std::string& path, uint32_t depth, bool transformed,
                                 std::string name = {});
// The layer for content whose first `have` bytes are `head` (what makeSniff waits for).
std::unique_ptr<Layer> makeForContent(Layer::Context& ctx, const std::string& path, uint32_t depth, bool transformed,
                                      const std::string& name, const uint8_t* head, size_t have);
// The layers that decode one content coding ("gzip", "deflate", "br", "base64",
// "quoted-printable"), named by it in the path, feeding `inner` made by `next` from its path.
enum class Coding : uint8_t { kGzip, kDeflate, kBrotli, kBase64, kQuotedPrintable, kUrlEncoded, kAscii85 };
std::unique_ptr<Layer> makeCoding(Layer::Context& ctx, const std::string& path, uint32_t depth, Coding coding,
                                  bool transformedInner, std::string name = {});
/// The layer undoing `coding` (named by it in the path) in front of `inner`, made for its path.
std::unique_ptr<Layer> wrapCoding(Layer::Context& ctx, const std::string& path, uint32_t depth, Coding coding,
                                  std::unique_ptr<Layer> inner);
std::string_view codingName(Coding c);
/// A stream that knows its own end (deflate): where in its input it ended.
class SelfEndingLayer : public Layer {
 public:
  using Layer::Layer;
  virtual bool finished() const = 0;
  virtual uint64_t consumed() const = 0;
};
/// Raw deflate (a ZIP member) into `inner`, named `name` in the path.
std::unique_ptr<SelfEndingLayer> makeRawInflate(Layer::Context& ctx, const std::string& path, uint32_t depth,
                                                std::string_view name, std::unique_ptr<Layer> inner);
// Text: a leaf when `emit`, watched for bare base64 runs, and its entropy sampled.
std::unique_ptr<Layer> makeText(Layer::Context& ctx, const std::string& path, uint32_t depth, bool emit);
std::unique_ptr<Layer> makeHttp(Layer::Context& ctx, const std::string& path, uint32_t depth);
std::unique_ptr<Layer> makeMultipart(Layer::Context& ctx, const std::string& path, uint32_t depth, std::string boundary,
                                     bool transformed);
std::unique_ptr<Layer> makeZip(Layer::Context& ctx, const std::string& path, uint32_t depth);
std::unique_ptr<Layer> makePdf(Layer::Context& ctx, const std::string& path, uint32_t depth);
std::unique_ptr<Layer> makeXmlText(Layer::Context& ctx, const std::string& path, uint32_t depth);
// The direction's first layer: TLS, SSH, HTTP, or content sniffed.
std::unique_ptr<Layer> makeStreamRoot(Layer::Context& ctx, const std::string& path, uint32_t depth);

/// Bytes held by a layer (a header block, the first bytes of a stream), their heap charged to the
/// context as it grows.
class ChargedBuffer {
 public:
  /// False when the context refuses the memory (nothing is appended).
  bool append(ContentDecoder::Context& ctx, const uint8_t* d, size_t n) {
    const size_t want = buf_.size() + n;
    if (want > charged_) {
      const size_t grow = std::max(want, charged_ * 2) - charged_;
      if (!ctx.charge(grow)) return false;
      charged_ += grow;
      buf_.reserve(charged_);
    }
    buf_.append(reinterpret_cast<const char*>(d), n);
    return true;
  }
  /// Gives the bytes away and the memory back.
  std::string take(ContentDecoder::Context& ctx) {
    std::string t;
    t.swap(buf_);
    ctx.release(charged_);
    charged_ = 0;
    return t;
  }
  void clear(ContentDecoder::Context& ctx) { (void)take(ctx); }
  const std::string& str() const { return buf_; }
  size_t size() const { return buf_.size(); }

 private:
  std::string buf_;
  size_t charged_ = 0;
};

/// Finds a delimiter in a stream fed in pieces of any size (Knuth–Morris–Pratt), handing on the
/// bytes that are not part of it, the partial matches it gave up included.
class DelimiterSearch {
 public:
  explicit DelimiterSearch(std::string delim);
  /// Scans `d[0..n)`: bytes before the delimiter go to `out` (possibly in several calls); returns the
  /// bytes consumed, and sets `found` when the delimiter ended at the last consumed byte.
  template <typename Out>
  size_t scan(const uint8_t* d, size_t n, bool* found, Out&& out);
  /// Pretends `k` delimiter bytes were just seen (a delimiter at the very start without its CRLF).
  void primed(size_t k) { matched_ = k; }
  const std::string& delimiter() const { return delim_; }

 private:
  std::string delim_;
  std::basic_string<uint16_t> fail_;
  size_t matched_ = 0;
};

template <typename Out>
size_t DelimiterSearch::scan(const uint8_t* d, size_t n, bool* found, Out&& out) {
  // Invariant: every consumed byte has been handed on except the last matched_, which are the
  // delimiter's first matched_ bytes (so they need not be kept).
  *found = false;
  const auto* dl = reinterpret_cast<const uint8_t*>(delim_.data());
  size_t i = 0;
  while (i < n) {
    if (matched_ == 0) {
      // Nothing pending: what comes before the next byte that can start the delimiter goes on.
      const void* p = std::memchr(d + i, dl[0], n - i);
      const size_t at = p ? static_cast<size_t>(static_cast<const uint8_t*>(p) - d) : n;
      if (at > i) out(d + i, at - i);
      i = at;
      if (i == n) break;
    }
    const uint8_t b = d[i];
    while (matched_ > 0 && dl[matched_] != b) {
      // The partial match falls back to its longest border; the bytes it gives up are the
      // delimiter's own prefix.
      const size_t keep = fail_[matched_ - 1];
      out(dl, matched_ - keep);
      matched_ = keep;
    }
    ++i;
    if (dl[matched_] == b) {
      if (++matched_ == delim_.size()) {
        matched_ = 0;
        *found = true;
        return i;
      }
    } else {
      out(d + i - 1, 1);
    }
  }
  return n;
}

}  // namespace goldgate::datapolicy

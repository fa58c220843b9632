// ContentDecoder: the context its layers share (budgets, memory, the open leaf), the direction's
// first layer (TLS, SSH, HTTP or sniffed content), content sniffing, text leaves with their bare
// base64 runs and entropy, and the content codings (gzip, deflate, br, base64,
// quoted-printable, URL encoding). HTTP and multipart: decode_http.cc; ZIP, PDF, XML: decode_docs.cc.
#include "goldgate/datapolicy/decode.h"

#include <brotli/decode.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "decode_layers.h"
#include "goldgate/datapolicy/inflate.h"

namespace goldgate::datapolicy {

const char* unreadableName(Unreadable u) {
  switch (u) {
    case Unreadable::kOutputBudget: return "output-budget";
    case Unreadable::kRatio: return "ratio";
    case Unreadable::kMemory: return "memory";
    case Unreadable::kDepth: return "depth";
    case Unreadable::kCorrupt: return "corrupt";
    case Unreadable::kTruncated: return "truncated";
    case Unreadable::kUnsupported: return "unsupported";
    case Unreadable::kEncrypted: return "encrypted";
    case Unreadable::kHeaderTooLong: return "header-too-long";
    case Unreadable::kHighEntropy: return "high-entropy";
  }
  return "?";
}

const char* opaqueName(Opaque o) {
  switch (o) {
    case Opaque::kNone: return "";
    case Opaque::kTls: return "tls";
    case Opaque::kSsh: return "ssh";
    case Opaque::kHighEntropy: return "high-entropy";
  }
  return "?";
}

std::string joinPath(const std::string& parent, std::string_view name) {
  if (parent.empty()) return std::string(name);
  std::string p;
  p.reserve(parent.size() + 3 + name.size());
  p.append(parent).append(" > ").append(name);
  return p;
}

DelimiterSearch::DelimiterSearch(std::string delim) : delim_(std::move(delim)), fail_(delim_.size(), 0) {
  // fail_[i]: the longest proper border of delim_[0..i].
  for (size_t i = 1, k = 0; i < delim_.size(); ++i) {
    while (k > 0 && delim_[i] != delim_[k]) k = fail_[k - 1];
    if (delim_[i] == delim_[k]) ++k;
    fail_[i] = static_cast<uint16_t>(k);
  }
}

// ------------------------------------------------------------------------------------ context

namespace {
constexpr uint64_t kRatioAfter = 1ull << 20;  // the ratio is judged once this much was produced
constexpr size_t kAllocHeader = 16;           // each charged allocation remembers its size
}  // namespace

bool ContentDecoder::Context::produce(uint64_t n, std::string_view path) {
  if (stopped) return false;
  produced += n;
  if (produced > lim.max_output) {
    report(Unreadable::kOutputBudget, path,
           "decoded size over the budget of " + std::to_string(lim.max_output) + " bytes");
    return false;
  }
  if (produced > kRatioAfter && produced > uint64_t{lim.max_ratio} * std::max<uint64_t>(in, 1)) {
    report(Unreadable::kRatio, path,
           "expands more than " + std::to_string(lim.max_ratio) + ":1 (" + std::to_string(produced) + " bytes from " +
               std::to_string(in) + ")");
    return false;
  }
  return true;
}

bool ContentDecoder::Context::charge(uint64_t n) {
  if (mem + n > lim.max_memory || (shared && shared->used + n > shared->limit) ||
      (group && group->used + n > group->limit)) {
    mem_failed = true;
    return false;
  }
  mem += n;
  if (shared) {
    shared->used += n;
    shared->peak = std::max(shared->peak, shared->used);
  }
  if (group) {
    group->used += n;
    group->peak = std::max(group->peak, group->used);
  }
  return true;
}

void ContentDecoder::Context::release(uint64_t n) {
  mem -= n;
  if (shared) shared->used -= n;
  if (group) group->used -= n;
}

void* ContentDecoder::Context::alloc(size_t n) {
  if (!charge(n + kAllocHeader)) return nullptr;
  auto* p = static_cast<uint8_t*>(std::malloc(n + kAllocHeader));
  if (!p) {
    release(n + kAllocHeader);
    mem_failed = true;
    return nullptr;
  }
  std::memcpy(p, &n, sizeof n);
  return p + kAllocHeader;
}

void ContentDecoder::Context::free(void* q) {
  if (!q) return;
  auto* p = static_cast<uint8_t*>(q) - kAllocHeader;
  size_t n;
  std::memcpy(&n, p, sizeof n);
  release(n + kAllocHeader);
  std::free(p);
}

void ContentDecoder::Context::report(Unreadable why, std::string_view path, std::string_view detail) {
  if (stopped) return;  // the first bound reached is the one reported
  if (isBudget(why)) stopped = true;
  sink->unreadable(why, path.empty() ? "stream" : path, detail);
}

namespace {
// Leaf bytes gathered during one call into a decoder (decoders of one thread run one at a time).
struct LeafScratch {
  uint8_t data[16 << 10];
  size_t len;
};
thread_local constinit LeafScratch tLeaf{};  // zero-initialized: no initialization guard on access
}  // namespace

void ContentDecoder::Context::flushLeaf() {
  if (tLeaf.len == 0) return;
  const size_t n = tLeaf.len;
  tLeaf.len = 0;
  if (leaf) sink->bytes(tLeaf.data, n);
}

void ContentDecoder::Context::emit(const Layer* owner, const std::string& path, const uint8_t* d, size_t n) {
  if (n == 0 || stopped) return;
  if (leaf != owner) {
    flushLeaf();
    if (leaf) sink->end();
    sink->begin(path);
    leaf = owner;
  }
  while (n > 0) {
    if (tLeaf.len == sizeof tLeaf.data) flushLeaf();
    const size_t take = std::min(n, sizeof tLeaf.data - tLeaf.len);
    std::memcpy(tLeaf.data + tLeaf.len, d, take);
    tLeaf.len += take;
    d += take;
    n -= take;
  }
}

void ContentDecoder::Context::endLeaf(const Layer* owner) {
  if (leaf == owner && leaf) {
    flushLeaf();
    sink->end();
    leaf = nullptr;
  }
}

// ------------------------------------------------------------------------------------ decoder

const size_t ContentDecoder::kStateBytes = sizeof(ContentDecoder::Context);

ContentDecoder::ContentDecoder(const DecodeLimits& limits, DecodeMemory* shared, DecodeMemory* group)
    : ctx_(std::make_unique<Context>()) {
  ctx_->group = group;
  ctx_->lim = limits;
  ctx_->shared = shared;
}

ContentDecoder::~ContentDecoder() {
  ctx_->root.reset();  // its layers give their memory back through the context
}

void ContentDecoder::feed(const uint8_t* data, size_t len, Sink& sink) {
  Context& c = *ctx_;
  if (c.stopped || len == 0) return;
  c.sink = &sink;
  c.in += len;
  if (!c.root && c.in == len) c.root = makeStreamRoot(c, "", 0);
  if (c.root) {
    c.root->feed(data, len);
    // Once the first bytes have said what the stream is, the layer they chose is the root.
    if (!c.settled && !c.stopped)
      if (auto next = c.root->settled()) {
        c.root = std::move(next);
        c.settled = true;
      }
  }
  c.flushLeaf();
  if (c.stopped) {
    // A bound ended decoding: the open leaf is closed and every layer's memory given back now.
    if (c.leaf) sink.end();
    c.leaf = nullptr;
    c.root.reset();
  }
  c.sink = nullptr;
}

void ContentDecoder::gap(Sink& sink) {
  Context& c = *ctx_;
  c.sink = &sink;
  if (c.root) c.root->end(false);
  c.flushLeaf();
  if (c.leaf) sink.end();
  c.leaf = nullptr;
  c.root.reset();
  c.stopped = true;
  c.sink = nullptr;
}

void ContentDecoder::finish(Sink& sink) {
  Context& c = *ctx_;
  c.sink = &sink;
  if (c.root && !c.stopped) c.root->end(true);
  c.flushLeaf();
  if (c.leaf) sink.end();
  c.leaf = nullptr;
  c.root.reset();
  c.stopped = true;
  c.sink = nullptr;
}

Opaque ContentDecoder::opaque() const { return ctx_->opaque; }
const TlsClientHello* ContentDecoder::tlsHello() const { return ctx_->hello.get(); }
uint64_t ContentDecoder::produced() const { return ctx_->produced; }
uint64_t ContentDecoder::memory() const { return ctx_->mem; }
bool ContentDecoder::stopped() const { return ctx_->stopped; }

// ------------------------------------------------------------------------------------ text

namespace {

// Base64 (standard and URL-safe) characters.
constexpr std::array<int8_t, 256> kB64 = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 26; ++i) t['A' + i] = static_cast<int8_t>(i), t['a' + i] = static_cast<int8_t>(26 + i);
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['+'] = t['-'] = 62;
  t['/'] = t['_'] = 63;
  return t;
}();

// Which of 64 bytes are not base64 characters (standard or URL-safe), a bit each: each byte's high
// and low nibble looked up in a table of which rows accept it (two shuffles and an AND, 16 bytes
// at a time; SSSE3, in the x86-64-v2 baseline). Rows (high
// nibble) by bit: 0x2_ 1, 0x3_ 2, 0x4_ 4, 0x5_ 8, 0x6_ 16, 0x7_ 32; bytes from 0x80 are in none.
constexpr uint8_t kLutLo[16] = {
    2 | 8 | 32,    62, 62, 62, 62, 62, 62, 62, 62, 62, 4 | 8 | 16 | 32, 1 | 4 | 16, 4 | 16, 1 | 4 | 16, 4 | 16,
    1 | 4 | 8 | 16};
constexpr uint8_t kLutHi[16] = {0, 0, 1, 2, 4, 8, 16, 32, 0, 0, 0, 0, 0, 0, 0, 0};

inline uint64_t badMask64Sse(const uint8_t* p) {
  const __m128i lutLo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kLutLo));
  const __m128i lutHi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kLutHi));
  const __m128i nib = _mm_set1_epi8(0x0f);
  uint64_t m = 0;
  for (int b = 0; b < 4; ++b) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * b));
    const __m128i lo = _mm_shuffle_epi8(lutLo, _mm_and_si128(v, nib));
    const __m128i hi = _mm_shuffle_epi8(lutHi, _mm_and_si128(_mm_srli_epi16(v, 4), nib));
    const __m128i bad = _mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128());
    m |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(bad))} << (16 * b);
  }
  return m;
}

// Decoded text: a leaf of its own when it differs from the direction's raw bytes (`emit`); bare
// base64 runs in it are decoded as content of their own; its first bytes' entropy is measured.
class TextLayer : public Layer {
 public:
  TextLayer(Context& ctx, std::string path, uint32_t depth, bool emit)
      : Layer(ctx, std::move(path), depth), emit_(emit) {}
  ~TextLayer() override {
    if (hist_) ctx_.release(sizeof(Hist));
  }

  void feed(const uint8_t* d, size_t n) override {
    if (sampled_ < kSample) sample(d, n);
    size_t i = 0;
    while (i < n && !ctx_.stopped) {
      if (run_) {
        i += continueRun(d + i, n - i);
        continue;
      }
      const size_t start = i;
      const size_t found = findRun(d, n, &i);
      if (emit_ && i > start) ctx_.emit(this, path_, d + start, i - start);
      if (found == SIZE_MAX) break;
      startRun(d, found);
    }
    keepTail(d, n);
  }

  void end(bool complete) override {
    if (run_) {
      run_->end(complete);
      run_.reset();
    }
    if (sampled_ && sampled_ < kSample) judgeEntropy();
    ctx_.endLeaf(this);
  }

 private:
  static constexpr uint32_t kSample = 1024;  // bytes whose entropy is measured
  static constexpr size_t kTail = 192;       // bytes kept from earlier pieces: a run found late starts there
  using Hist = std::array<uint16_t, 256>;

  void sample(const uint8_t* d, size_t n) {
    if (!hist_) {
      if (!ctx_.charge(sizeof(Hist))) {
        sampled_ = kSample;  // no room to measure: not judged
        return;
      }
      hist_ = std::make_unique<Hist>();
      hist_->fill(0);
    }
    const size_t take = std::min<size_t>(n, kSample - sampled_);
    for (size_t i = 0; i < take; ++i) ++(*hist_)[d[i]];
    sampled_ += static_cast<uint32_t>(take);
    if (sampled_ == kSample) judgeEntropy();
  }

  // Bytes that look encrypted or compressed (near 8 bits of entropy a byte) in no container the
  // decoders know: content that cannot be read.
  void judgeEntropy() {
    if (!hist_) return;
    double h = 0;
    for (uint16_t c : *hist_)
      if (c) {
        const double p = static_cast<double>(c) / sampled_;
        h -= p * std::log2(p);
      }
    hist_.reset();
    ctx_.release(sizeof(Hist));
    const uint32_t n = sampled_;
    sampled_ = kSample;
    if (n >= 512 && h > (n < kSample ? 7.0 : 7.5)) {
      if (depth_ == 0 && ctx_.opaque == Opaque::kNone) ctx_.opaque = Opaque::kHighEntropy;
      char detail[96];
      std::snprintf(detail, sizeof detail, "%.2f bits of entropy a byte over the first %u bytes, in no known form", h,
                    n);
      ctx_.report(Unreadable::kHighEntropy, path_, detail);
    }
  }

  // Looks for a base64 run of the minimum length from d[*i] on: returns the offset in d where it was
  // recognised (the run's bytes so far end there, goodRun_ of them, some perhaps in earlier
  // pieces), or SIZE_MAX; *i is moved there (or to n). 64 bytes at a time: a run of at least 64
  // either fills a block or ends at a block's first byte that is not base64.
  size_t findRun(const uint8_t* d, size_t n, size_t* i) {
    const uint64_t minRun = minRun_();
    size_t k = *i;
    while (k < n) {
      const size_t len = std::min<size_t>(64, n - k);
      uint64_t m;
      if (len == 64) {
        m = badMask64Sse(d + k);
      } else {  // the piece's last bytes, padded with bytes that count as not base64
        uint8_t pad[64] = {};
        std::memcpy(pad, d + k, len);
        m = badMask64Sse(pad) | (~uint64_t{0} << len);
      }
      if (m == 0) {
        goodRun_ += 64;
        if (goodRun_ >= minRun) return *i = k + 64;
      } else {
        const size_t first = static_cast<size_t>(__builtin_ctzll(m));
        if (goodRun_ + first >= minRun) {
          goodRun_ += first;
          return *i = k + first;
        }
        const uint64_t real = len == 64 ? m : m & ((uint64_t{1} << len) - 1);
        goodRun_ = real == 0 ? goodRun_ + len : len - 1 - (63 - static_cast<size_t>(__builtin_clzll(real)));
      }
      k += len;
    }
    *i = n;
    return SIZE_MAX;
  }
  uint64_t minRun_() const { return std::clamp<uint64_t>(ctx_.lim.min_base64_run, 64, 128); }

  // A run long enough was recognised ending at d[at]: its decoder starts with the run's bytes so
  // far (some from earlier pieces, kept in tail_).
  void startRun(const uint8_t* d, size_t at) {
    const uint64_t here = pos_ + at;
    const uint64_t runAbs = here - goodRun_;
    goodRun_ = 0;
    run_ = makeCoding(ctx_, path_, depth_, Coding::kBase64, true);
    if (!run_) return;  // too deep or no memory (reported): the text goes on undecoded
    const uint64_t need = here - runAbs;
    const uint64_t fromData = std::min<uint64_t>(need, at);
    const uint64_t fromTail = need - fromData;
    if (fromTail) run_->feed(tail_ + tailLen_ - fromTail, fromTail);
    run_->feed(d + at - fromData, fromData);
    runEnds_ = false;
    breaks_ = 0;
  }

  // Goes on decoding a run: returns the bytes taken. Line breaks inside a run are part of it (MIME
  // writes base64 in lines); anything else, or the padding, ends it.
  size_t continueRun(const uint8_t* d, size_t n) {
    size_t k = 0;
    while (k < n) {
      const uint8_t b = d[k];
      if (kB64[b] >= 0) {
        // After the padding, or a blank line, or at a line that starts like a MIME boundary
        // ("--"), the run is over.
        if (runEnds_ || breaks_ >= 2 || (breaks_ == 1 && b == '-')) break;
        breaks_ = 0;
        size_t j = k;
        while (j < n && kB64[d[j]] >= 0) ++j;
        run_->feed(d + k, j - k);
        k = j;
      } else if (b == '\r' || b == '\n') {
        if (b == '\n') ++breaks_;
        ++k;
      } else if (b == '=') {
        run_->feed(d + k, 1);
        ++k;
        runEnds_ = true;
      } else {
        break;
      }
      if (ctx_.stopped) return n;
    }
    if (k < n) {
      // The run ended before d[k]: its decoder ends, and the text after it is read as text again.
      run_->end(true);
      run_.reset();
      goodRun_ = 0;  // the next run starts here at the earliest
    }
    return k;
  }

  // Keeps the bytes of the run the piece ends in (all a later piece may need: a run is recognised
  // within kTail bytes of its start), so that plain text copies next to nothing.
  void keepTail(const uint8_t* d, size_t n) {
    pos_ += n;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(goodRun_, kTail));
    if (run_ || want == 0) {
      tailLen_ = 0;
    } else if (n >= want) {
      std::memcpy(tail_, d + n - want, want);
      tailLen_ = want;
    } else {
      const size_t keep = std::min(tailLen_, want - n);
      std::memmove(tail_, tail_ + tailLen_ - keep, keep);
      std::memcpy(tail_ + keep, d, n);
      tailLen_ = keep + n;
    }
  }

  bool emit_;
  bool runEnds_ = false;
  uint8_t breaks_ = 0;  // line breaks since the run's last character
  uint32_t sampled_ = 0;
  std::unique_ptr<Hist> hist_;
  std::unique_ptr<Layer> run_;  // the base64 run being decoded
  uint64_t pos_ = 0;            // bytes of this text before the current piece
  uint64_t goodRun_ = 0;        // base64 characters just before the current position
  size_t tailLen_ = 0;
  uint8_t tail_[kTail];
};

// ------------------------------------------------------------------------------------ codings

// Base64 (standard or URL-safe, line breaks and spaces skipped, padding ends it).
class Base64Layer : public FilterLayer {
 public:
  using FilterLayer::FilterLayer;
  void feed(const uint8_t* d, size_t n) override {
    if (done_ || !inner_) return;
    uint8_t out[768];
    size_t o = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t b = d[i];
      const int8_t v = kB64[b];
      if (v < 0) {
        if (b == '=') {
          done_ = true;
          break;
        }
        if (b == '\r' || b == '\n' || b == ' ' || b == '\t') continue;
        done_ = true;
        ctx_.report(Unreadable::kCorrupt, path_, "a byte that is not base64");
        break;
      }
      acc_ = acc_ << 6 | static_cast<uint32_t>(v);
      if (++have_ == 4) {
        out[o++] = static_cast<uint8_t>(acc_ >> 16);
        out[o++] = static_cast<uint8_t>(acc_ >> 8);
        out[o++] = static_cast<uint8_t>(acc_);
        have_ = 0;
        acc_ = 0;
        if (o == sizeof out) {
          inner_->feed(out, o);
          o = 0;
          if (ctx_.stopped) return;
        }
      }
    }
    if (done_) flushPartial(out, &o);
    if (o) inner_->feed(out, o);
  }
  void end(bool complete) override {
    if (!inner_) return;
    if (!done_) {
      uint8_t out[3];
      size_t o = 0;
      flushPartial(out, &o);
      if (o) inner_->feed(out, o);
    }
    FilterLayer::end(complete);
  }

 private:
  // The bytes of a last, padded quantum.
  void flushPartial(uint8_t* out, size_t* o) {
    if (have_ == 2) out[(*o)++] = static_cast<uint8_t>(acc_ >> 4);
    if (have_ == 3) {
      out[(*o)++] = static_cast<uint8_t>(acc_ >> 10);
      out[(*o)++] = static_cast<uint8_t>(acc_ >> 2);
    }
    have_ = 0;
  }
  uint32_t acc_ = 0;
  int have_ = 0;
  bool done_ = false;
};

// ASCII85 (PDF's ASCII85Decode): five characters '!'..'u' for four bytes, 'z' for four zeros,
// whitespace skipped, "~>" the end.
class Ascii85Layer : public FilterLayer {
 public:
  using FilterLayer::FilterLayer;
  void feed(const uint8_t* d, size_t n) override {
    if (done_ || !inner_) return;
    uint8_t out[1024];
    size_t o = 0;
    for (size_t i = 0; i < n && !done_; ++i) {
      const uint8_t b = d[i];
      if (b == '~') {
        done_ = true;
      } else if (b == 'z' && have_ == 0) {
        std::memset(out + o, 0, 4);
        o += 4;
      } else if (b >= '!' && b <= 'u') {
        acc_ = acc_ * 85 + (b - '!');
        if (++have_ == 5) {
          for (int k = 3; k >= 0; --k) out[o++] = static_cast<uint8_t>(acc_ >> (8 * k));
          acc_ = 0;
          have_ = 0;
        }
      } else if (b > ' ') {
        done_ = true;
        ctx_.report(Unreadable::kCorrupt, path_, "a byte that is not ASCII85");
      }
      if (o >= sizeof out - 4) {
        inner_->feed(out, o);
        o = 0;
        if (ctx_.stopped) return;
      }
    }
    if (done_ && have_ > 1) {  // a last partial group, padded with 'u'
      const int got = have_;
      while (have_ < 5) acc_ = acc_ * 85 + 84, ++have_;
      for (int k = 3; k >= 5 - got; --k) out[o++] = static_cast<uint8_t>(acc_ >> (8 * k));
      have_ = 0;
    }
    if (o) inner_->feed(out, o);
  }

 private:
  uint64_t acc_ = 0;
  int have_ = 0;
  bool done_ = false;
};

int hexValue(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Quoted-printable (RFC 2045) and URL encoding (application/x-www-form-urlencoded): an escape
// character and two hex digits; QP's soft line breaks; '+' a space in URL encoding.
class EscapeLayer : public FilterLayer {
 public:
  EscapeLayer(Context& ctx, std::string path, uint32_t depth, std::unique_ptr<Layer> inner, bool url)
      : FilterLayer(ctx, std::move(path), depth, std::move(inner)), url_(url) {}
  void feed(const uint8_t* d, size_t n) override {
    if (!inner_) return;
    uint8_t out[1024];
    size_t o = 0;
    const uint8_t esc = url_ ? '%' : '=';
    for (size_t i = 0; i < n; ++i) {
      const uint8_t b = d[i];
      if (have_ == 0) {
        if (b == esc) have_ = 1;
        else out[o++] = url_ && b == '+' ? ' ' : b;
      } else if (have_ == 1) {
        if (!url_ && (b == '\r' || b == '\n')) {
          have_ = b == '\r' ? 3 : 0;  // a soft line break: "=\r\n" or "=\n"
        } else {
          first_ = b;
          have_ = 2;
        }
      } else if (have_ == 3) {
        have_ = 0;
        if (b != '\n') out[o++] = b;
      } else {
        const int hi = hexValue(first_), lo = hexValue(b);
        if (hi >= 0 && lo >= 0) {
          out[o++] = static_cast<uint8_t>(hi << 4 | lo);
        } else {  // not an escape: taken as it is, as receivers do
          out[o++] = esc;
          out[o++] = first_;
          out[o++] = b;
        }
        have_ = 0;
      }
      if (o >= sizeof out - 3) {
        inner_->feed(out, o);
        o = 0;
        if (ctx_.stopped) return;
      }
    }
    if (o) inner_->feed(out, o);
  }

 private:
  bool url_;
  int have_ = 0;
  uint8_t first_ = 0;
};

// zlib's allocations charged to the direction.
voidpf zAlloc(voidpf opaque, uInt items, uInt size) {
  return static_cast<ContentDecoder::Context*>(opaque)->alloc(size_t{items} * size);
}
void zFree(voidpf opaque, voidpf p) { static_cast<ContentDecoder::Context*>(opaque)->free(p); }

// gzip, zlib or raw deflate ("deflate" in HTTP is zlib, though some senders write it raw).
class InflateLayer : public SelfEndingLayer {
 public:
  InflateLayer(Context& ctx, std::string path, uint32_t depth, std::unique_ptr<Layer> inner, Inflater::Format f)
      : SelfEndingLayer(ctx, std::move(path), depth), inner_(std::move(inner)), format_(f) {}
  ~InflateLayer() override = default;
  void feed(const uint8_t* d, size_t n) override {
    if (!inner_ || finished_) return;
    if (!inf_) {
      Inflater::Format f = format_;
      // HTTP's deflate: a zlib header, or (as some servers send it) raw deflate.
      if (f == Inflater::Format::kAuto && !Inflater::looksGzip(d, n) && n >= 2 && ((d[0] << 8) | d[1]) % 31 != 0)
        f = Inflater::Format::kRaw;
      inf_ =
          std::make_unique<Inflater>(f, InflateBudget{UINT64_MAX, UINT32_MAX}, InflateAllocator{zAlloc, zFree, &ctx_});
    }
    const auto st = inf_->feed(d, n, [&](const uint8_t* p, size_t k) {
      if (!ctx_.produce(k, path_)) return inf_->cancel("stopped");
      inner_->feed(p, k);
      if (ctx_.stopped) inf_->cancel("stopped");
    });
    settle(st);
  }
  void end(bool complete) override {
    if (!inner_) return;
    if (inf_ && !finished_ && complete) settle(inf_->finish());
    if (inner_) inner_->end(complete && !failed_);
    inner_.reset();
    inf_.reset();
  }
  // Input bytes the stream took (it may end before its input: a ZIP member with a data descriptor).
  uint64_t consumed() const override { return inf_ ? inf_->consumed() : consumed_; }
  bool finished() const override { return finished_; }

 private:
  void settle(Inflater::Status st) {
    if (st == Inflater::Status::kMore) return;
    finished_ = true;
    consumed_ = inf_->consumed();
    if (st == Inflater::Status::kBad) {
      failed_ = true;
      const bool truncated = inf_->reason().rfind("truncated", 0) == 0;
      ctx_.report(ctx_.mem_failed ? Unreadable::kMemory
                  : truncated     ? Unreadable::kTruncated
                                  : Unreadable::kCorrupt,
                  path_, ctx_.mem_failed ? "decoder memory used up" : inf_->reason());
    }
    // The decoder's window goes as soon as the stream ends.
    if (inner_) inner_->end(st == Inflater::Status::kDone);
    inner_.reset();
    inf_.reset();
  }
  std::unique_ptr<Layer> inner_;
  std::unique_ptr<Inflater> inf_;
  Inflater::Format format_;
  uint64_t consumed_ = 0;
  bool finished_ = false, failed_ = false;
};

void* brAlloc(void* opaque, size_t n) { return static_cast<ContentDecoder::Context*>(opaque)->alloc(n); }
void brFree(void* opaque, void* p) { static_cast<ContentDecoder::Context*>(opaque)->free(p); }

class BrotliLayer : public FilterLayer {
 public:
  using FilterLayer::FilterLayer;
  ~BrotliLayer() override {
    if (br_) BrotliDecoderDestroyInstance(br_);
  }
  void feed(const uint8_t* d, size_t n) override {
    if (!inner_ || done_) return;
    if (!br_ && !(br_ = BrotliDecoderCreateInstance(brAlloc, brFree, &ctx_))) return fail("decoder memory used up");
    uint8_t out[16 << 10];
    size_t availIn = n;
    const uint8_t* next = d;
    for (;;) {
      size_t availOut = sizeof out;
      uint8_t* o = out;
      const auto rc = BrotliDecoderDecompressStream(br_, &availIn, &next, &availOut, &o, nullptr);
      const size_t k = sizeof out - availOut;
      if (k) {
        if (!ctx_.produce(k, path_)) return;
        inner_->feed(out, k);
        if (ctx_.stopped) return;
      }
      if (rc == BROTLI_DECODER_RESULT_SUCCESS) {
        done_ = true;
        inner_->end(true);
        inner_.reset();
        BrotliDecoderDestroyInstance(br_);
        br_ = nullptr;
        return;
      }
      if (rc == BROTLI_DECODER_RESULT_ERROR)
        return fail(ctx_.mem_failed ? "decoder memory used up"
                                    : BrotliDecoderErrorString(BrotliDecoderGetErrorCode(br_)));
      if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) return;
      // NEEDS_MORE_OUTPUT: loop with a fresh buffer.
    }
  }
  void end(bool complete) override {
    if (!inner_) return;
    if (complete && !done_) ctx_.report(Unreadable::kTruncated, path_, "the brotli stream ended before its end");
    inner_->end(complete && done_);
    inner_.reset();
  }

 private:
  void fail(const char* why) {
    done_ = true;
    ctx_.report(ctx_.mem_failed ? Unreadable::kMemory : Unreadable::kCorrupt, path_, why);
    inner_->end(false);
    inner_.reset();
  }
  BrotliDecoderState* br_ = nullptr;
  bool done_ = false;
};

// ------------------------------------------------------------------------------------ sniffing

bool endsWith(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

}  // namespace

std::unique_ptr<Layer> makeForContent(Layer::Context& ctx, const std::string& path, uint32_t depth, bool transformed,
                                      const std::string& name, const uint8_t* h, size_t have) {
  const bool gzip = have >= 2 && h[0] == 0x1f && h[1] == 0x8b;
  const bool zlib = have >= 2 && h[0] == 0x78 && (h[1] == 0x01 || h[1] == 0x5e || h[1] == 0x9c || h[1] == 0xda);
  if (gzip || zlib) return makeCoding(ctx, path, depth, gzip ? Coding::kGzip : Coding::kDeflate, true);
  if (have >= 4 && std::memcmp(h, "PK\3\4", 4) == 0) return makeZip(ctx, path, depth);
  if (have >= 5 && std::memcmp(h, "%PDF-", 5) == 0) return makePdf(ctx, path, depth);
  if (transformed && (endsWith(name, ".xml") || (have >= 5 && std::memcmp(h, "<?xml", 5) == 0)))
    return makeXmlText(ctx, path, depth);
  return makeText(ctx, path, depth, transformed);
}

namespace {

// Waits for the first bytes of content, then hands everything to the layer they call for.
class SniffLayer : public FilterLayer {
 public:
  SniffLayer(Context& ctx, std::string path, uint32_t depth, bool transformed, std::string name)
      : FilterLayer(ctx, std::move(path), depth, nullptr), transformed_(transformed), name_(std::move(name)) {}
  void feed(const uint8_t* d, size_t n) override {
    if (!decided_) {
      const size_t take = std::min(n, sizeof head_ - have_);
      std::memcpy(head_ + have_, d, take);
      have_ += take;
      if (have_ < sizeof head_) return;
      decide();
      d += take;
      n -= take;
    }
    if (inner_ && n) inner_->feed(d, n);
  }
  void end(bool complete) override {
    if (!decided_) decide();
    FilterLayer::end(complete);
  }

 private:
  void decide() {
    decided_ = true;
    inner_ = makeForContent(ctx_, path_, depth_, transformed_, name_, head_, have_);
    if (inner_ && have_) inner_->feed(head_, have_);
  }
  bool transformed_;
  bool decided_ = false;
  std::string name_;
  uint8_t head_[5];
  size_t have_ = 0;
};

// ------------------------------------------------------------------------------------ the stream

bool startsWithMethod(const uint8_t* d, size_t n) {
  static constexpr std::string_view kStarts[] = {"GET ",  "POST ",    "PUT ",     "PATCH ", "DELETE ",
                                                 "HEAD ", "OPTIONS ", "CONNECT ", "HTTP/1."};
  for (auto s : kStarts)
    if (n >= s.size() && std::memcmp(d, s.data(), s.size()) == 0) return true;
  return false;
}

// The direction's first bytes: a TLS ClientHello (its metadata kept, the rest opaque), a
// ServerHello, an SSH banner, an HTTP/1.x message, or content sniffed.
class StreamRoot : public Layer {
 public:
  StreamRoot(Context& ctx, std::string path, uint32_t depth) : Layer(ctx, std::move(path), depth) {}
  ~StreamRoot() override { buf_.clear(ctx_); }
  void feed(const uint8_t* d, size_t n) override {
    if (inner_) return inner_->feed(d, n);
    if (opaque_) return;
    if (!buf_.append(ctx_, d, n)) {
      ctx_.report(Unreadable::kMemory, "stream", "decoder memory used up");
      return;
    }
    decide(false);
  }
  void end(bool complete) override {
    if (!inner_ && !opaque_) decide(true);
    if (inner_) inner_->end(complete);
    inner_.reset();
  }

 private:
  static constexpr size_t kHelloMax = 16384 + 5 + 256;

  void decide(bool atEnd) {
    const auto* d = reinterpret_cast<const uint8_t*>(buf_.str().data());
    const size_t n = buf_.size();
    if (n >= 1 && d[0] == 0x16) {  // a TLS handshake record, perhaps
      if (n < 6 && !atEnd) return;
      if (n >= 6 && d[1] == 3 && d[5] == 2) return becomeOpaque(Opaque::kTls);  // ServerHello
      TlsClientHello hello;
      std::string why;
      const auto r = parseClientHello(d, std::min(n, kHelloMax), &hello, &why);
      if (r == TlsHelloParse::kNeedMore && !atEnd && n < kHelloMax) return;
      if (r == TlsHelloParse::kHello) {
        ctx_.hello = std::make_unique<TlsClientHello>(std::move(hello));
        return becomeOpaque(Opaque::kTls);
      }
    }
    if (n < 8 && !atEnd) return;  // a method, "SSH-", a file's magic bytes: the first eight say
    if (n >= 4 && std::memcmp(d, "SSH-", 4) == 0) return becomeOpaque(Opaque::kSsh);
    inner_ =
        startsWithMethod(d, n) ? makeHttp(ctx_, path_, depth_) : makeForContent(ctx_, path_, depth_, false, {}, d, n);
    const std::string held = buf_.take(ctx_);
    if (inner_) inner_->feed(reinterpret_cast<const uint8_t*>(held.data()), held.size());
  }
  std::unique_ptr<Layer> settled() override { return std::move(inner_); }
  void becomeOpaque(Opaque o) {
    opaque_ = true;
    ctx_.opaque = o;
    buf_.clear(ctx_);
  }

  ChargedBuffer buf_;  // the first bytes, until they say what the stream is
  bool opaque_ = false;
  std::unique_ptr<Layer> inner_;
};

}  // namespace

std::unique_ptr<Layer> makeSniff(Layer::Context& ctx, const std::string& path, uint32_t depth, bool transformed,
                                 std::string name) {
  return Layer::make<SniffLayer>(ctx, path, depth, "", transformed, std::move(name));
}

std::unique_ptr<Layer> makeText(Layer::Context& ctx, const std::string& path, uint32_t depth, bool emit) {
  return Layer::make<TextLayer>(ctx, path, depth, "", emit);
}

std::string_view codingName(Coding c) {
  static constexpr std::string_view kNames[] = {"gzip",       "deflate", "br", "base64", "quoted-printable",
                                                "urlencoded", "ascii85"};
  return kNames[static_cast<int>(c)];
}

std::unique_ptr<Layer> wrapCoding(Layer::Context& ctx, const std::string& path, uint32_t depth, Coding coding,
                                  std::unique_ptr<Layer> inner) {
  const std::string_view name = codingName(coding);
  switch (coding) {
    case Coding::kGzip:
    case Coding::kDeflate:
      return Layer::make<InflateLayer>(ctx, path, depth, name, std::move(inner), Inflater::Format::kAuto);
    case Coding::kBrotli: return Layer::make<BrotliLayer>(ctx, path, depth, name, std::move(inner));
    case Coding::kBase64: return Layer::make<Base64Layer>(ctx, path, depth, name, std::move(inner));
    case Coding::kQuotedPrintable: return Layer::make<EscapeLayer>(ctx, path, depth, name, std::move(inner), false);
    case Coding::kUrlEncoded: return Layer::make<EscapeLayer>(ctx, path, depth, name, std::move(inner), true);
    case Coding::kAscii85: return Layer::make<Ascii85Layer>(ctx, path, depth, name, std::move(inner));
  }
  return nullptr;
}

std::unique_ptr<Layer> makeCoding(Layer::Context& ctx, const std::string& path, uint32_t depth, Coding coding,
                                  bool transformedInner, std::string name) {
  const std::string inner = joinPath(path, codingName(coding));
  // URL-encoded forms are text; the others' content is sniffed again (a zipped file in base64 …).
  std::unique_ptr<Layer> content = coding == Coding::kUrlEncoded
                                       ? makeText(ctx, inner, depth + 1, true)
                                       : makeSniff(ctx, inner, depth + 1, transformedInner, std::move(name));
  if (!content) return nullptr;
  return wrapCoding(ctx, path, depth, coding, std::move(content));
}

std::unique_ptr<SelfEndingLayer> makeRawInflate(Layer::Context& ctx, const std::string& path, uint32_t depth,
                                                std::string_view name, std::unique_ptr<Layer> inner) {
  return Layer::make<InflateLayer>(ctx, path, depth, name, std::move(inner), Inflater::Format::kRaw);
}

std::unique_ptr<Layer> makeStreamRoot(Layer::Context& ctx, const std::string& path, uint32_t depth) {
  return Layer::make<StreamRoot>(ctx, path, depth, "");
}

}  // namespace goldgate::datapolicy

// Documents and archives as ContentDecoder layers: ZIP archives read member by member from their
// local headers as they stream past (stored and deflated members, data descriptors, ZIP64 sizes),
// the XML of Office Open XML documents read as text, and PDF files' streams (Flate or none) read
// for the strings of their text objects.
#include <algorithm>
#include <cstring>
#include <string>

#include "decode_layers.h"

namespace goldgate::datapolicy {

namespace {

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t le64(const uint8_t* p) { return uint64_t{le32(p)} | uint64_t{le32(p + 4)} << 32; }

// ------------------------------------------------------------------------------------ ZIP

// A stored member's bytes, passed on as they are.
class StoredLayer : public FilterLayer {
 public:
  using FilterLayer::FilterLayer;
  void feed(const uint8_t* d, size_t n) override {
    if (inner_) inner_->feed(d, n);
  }
};

class ZipLayer : public Layer {
 public:
  ZipLayer(Context& ctx, std::string path, uint32_t depth) : Layer(ctx, std::move(path), depth) {}

  void feed(const uint8_t* d, size_t n) override {
    while (n > 0 && !ctx_.stopped && state_ != State::kDone) {
      const size_t k = step(d, n);
      d += k;
      n -= k;
    }
  }

  void end(bool complete) override {
    if (member_) {
      member_->end(false);
      member_.reset();
      if (complete) ctx_.report(Unreadable::kTruncated, memberPath_, "the archive ended inside this member");
    }
    inflate_ = nullptr;
  }

 private:
  enum class State : uint8_t { kSignature, kHeader, kName, kExtra, kData, kDeflate, kDescriptor, kSkip, kDone };
  static constexpr size_t kHeaderLen = 26;  // a local file header after its signature

  // Collects bytes into hdr_ up to `want` (at most its size): true when they are all there.
  bool collect(const uint8_t* d, size_t n, size_t want, size_t* used) {
    const size_t take = std::min(n, want - have_);
    std::memcpy(hdr_ + have_, d, take);
    have_ += take;
    *used += take;
    return have_ == want;
  }

  size_t step(const uint8_t* d, size_t n) {
    size_t used = 0;
    switch (state_) {
      case State::kSignature:
        if (!collect(d, n, 4, &used)) return used;
        have_ = 0;
        if (le32(hdr_) == 0x04034b50) {
          state_ = State::kHeader;
        } else if (le32(hdr_) == 0x02014b50 || le32(hdr_) == 0x06054b50 || le32(hdr_) == 0x06064b50) {
          state_ = State::kDone;  // the central directory: every member has been read
        } else {
          ctx_.report(Unreadable::kCorrupt, path_.empty() ? "zip" : joinPath(path_, "zip"),
                      "not a ZIP local file header where one should start");
          state_ = State::kDone;
        }
        return used;
      case State::kHeader:
        if (!collect(d, n, kHeaderLen, &used)) return used;
        flags_ = le16(hdr_ + 2);
        method_ = le16(hdr_ + 4);
        csize_ = le32(hdr_ + 14);
        usize_ = le32(hdr_ + 18);
        nameLen_ = le16(hdr_ + 22);
        extraLen_ = le16(hdr_ + 24);
        name_.clear();
        zip64_ = false;
        have_ = 0;
        state_ = State::kName;
        return used;
      case State::kName: {
        const size_t take = std::min<size_t>(n, nameLen_ - nameSeen_);
        // The name as far as a path shows it; the rest is skipped.
        for (size_t i = 0; i < take && name_.size() < 256; ++i) name_ += static_cast<char>(d[i]);
        nameSeen_ += take;
        if (nameSeen_ == nameLen_) {
          nameSeen_ = 0;
          extraLeft_ = extraLen_;
          state_ = State::kExtra;
        }
        return take;
      }
      case State::kExtra: {
        // ZIP64 sizes live in the extra field (id 1); other fields are skipped.
        const size_t take = std::min<size_t>(n, extraLeft_);
        for (size_t i = 0; i < take; ++i) {
          if (extraHave_ < sizeof extra_) extra_[extraHave_++] = d[i];
        }
        extraLeft_ = static_cast<uint16_t>(extraLeft_ - take);
        if (extraLeft_ == 0) {
          readZip64();
          extraHave_ = 0;
          startMember();
        }
        return take;
      }
      case State::kData: {  // a stored member, or a deflated one of known size
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n, left_));
        if (member_) member_->feed(d, take);
        left_ -= take;
        if (left_ == 0) endMember(true);
        return take;
      }
      case State::kDeflate: {  // deflate of unknown size: the stream's own end says where it stops
        const uint64_t before = inflate_->consumed();
        member_->feed(d, n);
        if (!inflate_->finished()) return n;
        const uint64_t took = inflate_->consumed() - before;
        endMember(true);
        state_ = State::kDescriptor;
        have_ = 0;
        return static_cast<size_t>(std::min<uint64_t>(took, n));
      }
      case State::kDescriptor: {
        // An optional signature, the CRC and two sizes (8 bytes each with ZIP64).
        const size_t want = zip64_ ? 20 : 12;
        while (used < n) {
          hdr_[have_++] = d[used++];
          if (have_ == 4 && le32(hdr_) != 0x08074b50) descriptorNoSig_ = true;
          if (have_ >= 4 && have_ == (descriptorNoSig_ ? want : want + 4)) {
            have_ = 0;
            descriptorNoSig_ = false;
            state_ = State::kSignature;
            break;
          }
        }
        return used;
      }
      case State::kSkip: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n, left_));
        left_ -= take;
        if (left_ == 0) state_ = State::kSignature;
        return take;
      }
      case State::kDone: return n;
    }
    return n;
  }

  void readZip64() {
    for (size_t i = 0; i + 4 <= extraHave_;) {
      const uint16_t id = le16(extra_ + i), len = le16(extra_ + i + 2);
      if (id == 1) {
        size_t p = i + 4;
        zip64_ = true;
        if (usize_ == 0xffffffffu && p + 8 <= extraHave_) usize_ = le64(extra_ + p), p += 8;
        if (csize_ == 0xffffffffu && p + 8 <= extraHave_) csize_ = le64(extra_ + p);
      }
      i += 4 + len;
    }
  }

  std::string memberName() const {
    std::string r;
    for (char c : name_.substr(0, 64)) r += (static_cast<unsigned char>(c) < 0x20 || c == '>') ? '_' : c;
    return r;
  }

  void startMember() {
    const std::string comp = "zip:" + memberName();
    memberPath_ = joinPath(path_, comp);
    const bool descriptor = flags_ & 0x8;
    const bool sizeKnown = !descriptor || csize_ != 0;
    const bool dir = !name_.empty() && name_.back() == '/';
    if (flags_ & 0x1) {
      ctx_.report(Unreadable::kEncrypted, memberPath_, "an encrypted ZIP member");
      return skipOrStop(sizeKnown);
    }
    if (dir) return skipOrStop(sizeKnown);
    if (method_ != 0 && method_ != 8) {
      ctx_.report(Unreadable::kUnsupported, memberPath_, "ZIP compression method " + std::to_string(method_));
      return skipOrStop(sizeKnown);
    }
    if (method_ == 0 && !sizeKnown) {
      ctx_.report(Unreadable::kUnsupported, memberPath_, "a stored ZIP member of unknown size");
      state_ = State::kDone;
      return;
    }
    auto content = makeSniff(ctx_, memberPath_, depth_ + 1, true, name_);
    if (!content) return skipOrStop(sizeKnown);
    if (method_ == 0) {
      member_ = Layer::make<StoredLayer>(ctx_, path_, depth_, comp, std::move(content));
    } else {
      auto inf = makeRawInflate(ctx_, path_, depth_, comp, std::move(content));
      inflate_ = inf.get();
      member_ = std::move(inf);
    }
    if (!member_) return skipOrStop(sizeKnown);
    if (sizeKnown && !(method_ == 8 && descriptor)) {
      left_ = csize_;
      state_ = State::kData;
      if (left_ == 0) endMember(true);
    } else {
      state_ = State::kDeflate;
    }
  }

  void skipOrStop(bool sizeKnown) {
    if (sizeKnown) {
      left_ = csize_;
      state_ = left_ ? State::kSkip : State::kSignature;
      if ((flags_ & 0x8) && state_ == State::kSignature) state_ = State::kDescriptor;
    } else {
      state_ = State::kDone;  // where the member ends cannot be told
    }
  }

  void endMember(bool complete) {
    if (member_) member_->end(complete);
    member_.reset();
    inflate_ = nullptr;
    if (state_ == State::kData) state_ = (flags_ & 0x8) ? State::kDescriptor : State::kSignature;
    have_ = 0;
  }

  State state_ = State::kSignature;
  uint8_t hdr_[32];
  size_t have_ = 0;
  uint16_t flags_ = 0, method_ = 0, nameLen_ = 0, extraLen_ = 0, extraLeft_ = 0;
  size_t nameSeen_ = 0;
  uint8_t extra_[64];
  size_t extraHave_ = 0;
  uint64_t csize_ = 0, usize_ = 0, left_ = 0;
  bool zip64_ = false;
  bool descriptorNoSig_ = false;
  std::string name_;
  std::string memberPath_;
  std::unique_ptr<Layer> member_;
  SelfEndingLayer* inflate_ = nullptr;  // member_, when it is deflate of unknown size
};

// ------------------------------------------------------------------------------------ XML

// The text of an XML document: character data with its entities resolved, markup left out. Tags
// that end a paragraph, a cell or a row in Office documents (w:p, w:tab, w:br, w:tc, c, v, si,
// row …) become a line break, so that the values of two cells never run together; run tags
// (w:r, w:t) join, so that a value split across runs stays one.
class XmlTextLayer : public Layer {
 public:
  XmlTextLayer(Context& ctx, std::string path, uint32_t depth) : Layer(ctx, std::move(path), depth) {}
  void feed(const uint8_t* d, size_t n) override {
    uint8_t out[1024];
    size_t o = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t b = d[i];
      if (inTag_) {
        if (b == '>') {
          inTag_ = false;
          if (separates()) out[o++] = '\n';
        } else if (!tagNameDone_) {
          if (b == '/' && tag_.empty()) continue;  // a closing tag
          if (b == ' ' || b == '/' || b == '\t' || b == '\r' || b == '\n' || tag_.size() >= 24) tagNameDone_ = true;
          else tag_ += static_cast<char>(b);
        }
      } else if (inEntity_) {
        if (b == ';' || entity_.size() >= 10) {
          inEntity_ = false;
          o += resolve(out + o);
          entity_.clear();
        } else {
          entity_ += static_cast<char>(b);
        }
      } else if (b == '<') {
        inTag_ = true;
        tagNameDone_ = false;
        tag_.clear();
      } else if (b == '&') {
        inEntity_ = true;
      } else {
        out[o++] = b;
      }
      if (o >= sizeof out - 8) {
        ctx_.emit(this, path_, out, o);
        o = 0;
      }
    }
    ctx_.emit(this, path_, out, o);
  }
  void end(bool) override { ctx_.endLeaf(this); }

 private:
  bool separates() const {
    std::string_view t = tag_;
    if (const size_t colon = t.find(':'); colon != std::string_view::npos) t.remove_prefix(colon + 1);
    static constexpr std::string_view kBlocks[] = {"p", "tab", "br",  "tc", "tr", "c",
                                                   "v", "si",  "row", "cr", "td", "li"};
    return std::find(std::begin(kBlocks), std::end(kBlocks), t) != std::end(kBlocks);
  }
  size_t resolve(uint8_t* out) const {
    static constexpr std::pair<std::string_view, char> kNamed[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    for (const auto& [name, c] : kNamed)
      if (entity_ == name) return out[0] = static_cast<uint8_t>(c), 1;
    if (entity_.size() > 1 && entity_[0] == '#') {
      const long v = entity_[1] == 'x' ? std::strtol(entity_.c_str() + 2, nullptr, 16)
                                       : std::strtol(entity_.c_str() + 1, nullptr, 10);
      if (v > 0 && v < 0x80) return out[0] = static_cast<uint8_t>(v), 1;
      return out[0] = ' ', 1;
    }
    return 0;
  }
  bool inTag_ = false, tagNameDone_ = false, inEntity_ = false;
  std::string tag_, entity_;
};

// ------------------------------------------------------------------------------------ PDF

// The strings of a PDF content stream, as a text extractor reads them: literal "(…)" strings with
// their escapes, hex "<…>" strings, a line break after each text-showing operator; inside a TJ
// array the pieces join, a wide gap (a kerning of 200 or more) becoming a space.
class PdfTextLayer : public Layer {
 public:
  PdfTextLayer(Context& ctx, std::string path, uint32_t depth) : Layer(ctx, std::move(path), depth) {}
  void feed(const uint8_t* d, size_t n) override {
    o_ = 0;
    for (size_t i = 0; i < n; ++i) byte(d[i]);
    flush();
  }
  void end(bool) override { ctx_.endLeaf(this); }

 private:
  void put(uint8_t c) {
    out_[o_++] = c;
    if (o_ == sizeof out_) flush();
  }
  void flush() {
    ctx_.emit(this, path_, out_, o_);
    o_ = 0;
  }
  void byte(uint8_t b) {
    switch (mode_) {
      case Mode::kLiteral:
        if (escape_ == 1) {
          escape_ = 0;
          if (b >= '0' && b <= '7') {
            octal_ = b - '0';
            digits_ = 1;
            escape_ = 2;
            return;
          }
          static constexpr std::pair<char, char> kEsc[] = {
              {'n', '\n'}, {'r', '\r'}, {'t', '\t'}, {'b', '\b'}, {'f', '\f'}};
          for (auto [e, c] : kEsc)
            if (b == e) return put(static_cast<uint8_t>(c));
          if (b == '\n' || b == '\r') return;  // a line continuation
          return put(b);
        }
        if (escape_ == 2) {
          if (b >= '0' && b <= '7' && digits_ < 3) {
            octal_ = octal_ * 8 + (b - '0');
            ++digits_;
            return;
          }
          put(static_cast<uint8_t>(octal_));
          escape_ = 0;
        }
        if (b == '\\') {
          escape_ = 1;
        } else if (b == '(') {
          ++nest_;
          put(b);
        } else if (b == ')') {
          if (nest_ == 0) mode_ = Mode::kContent, shown_ = true;
          else --nest_, put(b);
        } else {
          put(b);
        }
        return;
      case Mode::kHex:
        if (b == '>') {
          if (nibble_ >= 0) put(static_cast<uint8_t>(nibble_ << 4));
          nibble_ = -1;
          mode_ = Mode::kContent;
          shown_ = true;
          return;
        }
        if (const int v = hex(b); v >= 0) {
          if (nibble_ < 0) nibble_ = v;
          else put(static_cast<uint8_t>(nibble_ << 4 | v)), nibble_ = -1;
        }
        return;
      case Mode::kContent:
        if (lastLt_) {
          lastLt_ = false;
          if (b == '<') return;  // "<<": a dictionary, not a hex string
          mode_ = Mode::kHex;
          nibble_ = -1;
          return byte(b);
        }
        if (b == '<') {
          lastLt_ = true;
        } else if (b == '(') {
          closeNumber();
          mode_ = Mode::kLiteral;
          nest_ = 0;
        } else if (b == '[') {
          inArray_ = true;
        } else if (b == ']') {
          closeNumber();
          inArray_ = false;
        } else if ((b >= '0' && b <= '9') || b == '-' || b == '.') {
          if (inArray_ && number_.size() < 16) number_ += static_cast<char>(b);
        } else if (b == ' ' || b == '\n' || b == '\r' || b == '\t') {
          closeNumber();
        } else if (shown_ && b != '>') {
          // An operator after shown text (Tj, TJ, ', ", ET …): the text line ends.
          put('\n');
          shown_ = false;
        }
        return;
    }
  }
  void closeNumber() {
    if (number_.empty()) return;
    if (inArray_ && std::atof(number_.c_str()) <= -200 && shown_) put(' ');
    number_.clear();
  }
  static int hex(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  enum class Mode : uint8_t { kContent, kLiteral, kHex } mode_ = Mode::kContent;
  int escape_ = 0, digits_ = 0, octal_ = 0, nest_ = 0, nibble_ = -1;
  bool shown_ = false, inArray_ = false, lastLt_ = false;
  std::string number_;
  uint8_t out_[1024];
  size_t o_ = 0;
};

// A PDF file: the dictionary before each "stream" keyword says how the stream is encoded; Flate
// streams and unencoded ones are read for their text, others (images, fonts) skipped.
class PdfLayer : public Layer {
 public:
  PdfLayer(Context& ctx, std::string path, uint32_t depth)
      : Layer(ctx, std::move(path), depth), streamKw_("stream"), endKw_("endstream") {}
  void feed(const uint8_t* d, size_t n) override {
    while (n > 0 && !ctx_.stopped) {
      size_t k;
      bool found;
      if (!inStream_) {
        k = streamKw_.scan(d, n, &found, [&](const uint8_t* p, size_t m) { keepDict(p, m); });
        if (found) {
          inStream_ = true;
          eolLeft_ = 2;
          openStream();
        }
      } else if (eolLeft_ > 0) {
        // The end of line after "stream": CRLF or LF.
        k = 0;
        while (k < n && eolLeft_ > 0 && (d[k] == '\r' || d[k] == '\n')) {
          const bool lf = d[k] == '\n';
          ++k;
          eolLeft_ = lf ? 0 : eolLeft_ - 1;
        }
        if (k < n) eolLeft_ = 0;
        if (k == 0) continue;
      } else {
        k = endKw_.scan(d, n, &found, [&](const uint8_t* p, size_t m) {
          if (stream_) stream_->feed(p, m);
        });
        if (found) {
          if (stream_) stream_->end(true);
          stream_.reset();
          inStream_ = false;
          dict_.clear();
        }
      }
      d += k;
      n -= k;
    }
  }
  void end(bool complete) override {
    if (stream_) stream_->end(complete);
    stream_.reset();
  }

 private:
  void keepDict(const uint8_t* p, size_t m) {
    // The last bytes before a stream hold its dictionary; "endobj" and "obj" bound it.
    dict_.append(reinterpret_cast<const char*>(p), m);
    if (dict_.size() > 1024) dict_.erase(0, dict_.size() - 1024);
  }
  void openStream() {
    const size_t obj = dict_.rfind(" obj");
    const std::string_view dict =
        obj == std::string::npos ? std::string_view(dict_) : std::string_view(dict_).substr(obj);
    auto has = [&](std::string_view s) { return dict.find(s) != std::string_view::npos; };
    // Images, fonts and other binary streams carry no text.
    if (has("/Image") || has("/Length1") || has("/Length2") || has("/FontFile") || has("/Predictor") ||
        has("/Metadata") || has("/XRef"))
      return;
    // Filters read: Flate, and ASCII85 before it; any other (DCT, LZW, JBIG2 …) is not.
    const bool flate = has("/FlateDecode") || has("/Fl ") || has("/Fl]") || has("/Fl/");
    const bool a85 = has("/ASCII85Decode") || has("/A85");
    if (has("/Filter") && !flate) return;
    auto text = Layer::make<PdfTextLayer>(ctx_, path_, depth_, "");
    if (!text) return;
    std::unique_ptr<Layer> chain =
        flate ? wrapCoding(ctx_, path_, depth_, Coding::kDeflate, std::move(text)) : std::move(text);
    if (chain && a85) chain = wrapCoding(ctx_, path_, depth_, Coding::kAscii85, std::move(chain));
    stream_ = std::move(chain);
  }
  DelimiterSearch streamKw_, endKw_;
  std::string dict_;
  bool inStream_ = false;
  int eolLeft_ = 0;
  std::unique_ptr<Layer> stream_;
};

}  // namespace

std::unique_ptr<Layer> makeZip(Layer::Context& ctx, const std::string& path, uint32_t depth) {
  return Layer::make<ZipLayer>(ctx, path, depth, "");
}

std::unique_ptr<Layer> makePdf(Layer::Context& ctx, const std::string& path, uint32_t depth) {
  return Layer::make<PdfLayer>(ctx, path, depth, "pdf");
}

std::unique_ptr<Layer> makeXmlText(Layer::Context& ctx, const std::string& path, uint32_t depth) {
  return Layer::make<XmlTextLayer>(ctx, path, depth, "");
}

}  // namespace goldgate::datapolicy

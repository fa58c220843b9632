// HTTP/1.x messages and MIME multipart bodies as ContentDecoder layers: the body of each message
// (Content-Length, chunked, or to the end of a response), its Content-Encoding undone, and its
// content by Content-Type: multipart parts (with their own transfer encodings and file names),
// URL-encoded forms, or content sniffed. A CONNECT request's tunnel is a stream of its own.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "decode_layers.h"

namespace goldgate::datapolicy {

namespace {

constexpr size_t kMaxHeaderBlock = 16 << 10;  // an HTTP or MIME part header block
constexpr size_t kMaxNameInPath = 64;         // a file name as it appears in a finding's path

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A header block: the start line, then "name: value" lines (names lower-cased; a repeated name's
// values joined with ", " as RFC 9110 allows).
struct Headers {
  std::string start;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string get(std::string_view name) const {
    std::string v;
    for (const auto& [n, val] : fields)
      if (n == name) v += (v.empty() ? "" : ", ") + val;
    return v;
  }
};

Headers parseHeaders(std::string_view block, bool hasStartLine) {
  Headers h;
  bool first = hasStartLine;
  while (!block.empty()) {
    const size_t eol = block.find('\n');
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
    line = trim(line);
    if (first) {
      h.start = std::string(line);
      first = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    h.fields.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return h;
}

// A parameter of a header value ("multipart/form-data; boundary=xyz", "form-data; name=\"f\"").
std::string param(std::string_view value, std::string_view name) {
  size_t i = 0;
  while ((i = value.find(';', i)) != std::string_view::npos) {
    ++i;
    std::string_view rest = trim(value.substr(i));
    if (rest.size() > name.size() && lower(rest.substr(0, name.size())) == name && rest[name.size()] == '=') {
      std::string_view v = rest.substr(name.size() + 1);
      if (!v.empty() && v.front() == '"') {
        v.remove_prefix(1);
        return std::string(v.substr(0, v.find('"')));
      }
      return std::string(trim(v.substr(0, v.find(';'))));
    }
  }
  return {};
}

std::string mediaType(std::string_view contentType) {
  return lower(trim(contentType.substr(0, contentType.find(';'))));
}

// A file or field name as it appears in a path: bounded, without control characters or '>'.
std::string pathName(std::string_view s) {
  std::string r;
  for (char c : s.substr(0, kMaxNameInPath)) r += (static_cast<unsigned char>(c) < 0x20 || c == '>') ? '_' : c;
  return r;
}

// A header block read across pieces, up to its blank line, within the bound.
class HeaderBlock {
 public:
  // Takes bytes from d: returns how many, and sets *done when the blank line was reached. over()
  // once the block is past the bound (or its memory was refused).
  size_t take(const uint8_t* d, size_t n, bool* done, Layer::Context& ctx) {
    *done = false;
    size_t i = 0;
    for (; i < n; ++i) {
      const uint8_t c = d[i];
      if (!buf_.append(ctx, &c, 1) || buf_.size() > kMaxHeaderBlock) {
        over_ = true;
        return i;
      }
      if (c != '\n') continue;
      // The block ends at an empty line ("\r\n\r\n" or "\n\n"); empty lines before it are skipped.
      const std::string& b = buf_.str();
      const size_t s = b.size();
      if (s == 1 || (s == 2 && b[0] == '\r')) {
        buf_.clear(ctx);
        continue;
      }
      if ((s >= 2 && b[s - 2] == '\n') || (s >= 3 && b[s - 2] == '\r' && b[s - 3] == '\n')) {
        *done = true;
        return i + 1;
      }
    }
    return i;
  }
  bool over() const { return over_; }
  std::string text(Layer::Context& ctx) { return buf_.take(ctx); }
  void reset(Layer::Context& ctx) {
    buf_.clear(ctx);
    over_ = false;
  }

 private:
  ChargedBuffer buf_;
  bool over_ = false;
};

// A body's or part's content by its type: a multipart body, a URL-encoded form, or sniffed.
std::unique_ptr<Layer> contentFor(Layer::Context& ctx, const std::string& path, uint32_t depth,
                                  const std::string& contentType, bool transformed, const std::string& name) {
  const std::string media = mediaType(contentType);
  if (media.rfind("multipart/", 0) == 0 && !param(contentType, "boundary").empty())
    return makeMultipart(ctx, path, depth, param(contentType, "boundary"), transformed);
  if (media == "application/x-www-form-urlencoded") return makeCoding(ctx, path, depth, Coding::kUrlEncoded, true);
  return makeSniff(ctx, path, depth, transformed, name);
}

// The layers for content under codings listed in the order they were applied: the last applied
// is undone first, and named first in the path ("http.body > br > gzip"); then the content.
std::unique_ptr<Layer> codingChain(Layer::Context& ctx, const std::string& path, uint32_t depth,
                                   std::vector<Coding> codings, const std::string& contentType, bool transformed,
                                   const std::string& name) {
  if (codings.empty()) return contentFor(ctx, path, depth, contentType, transformed, name);
  const Coding outer = codings.back();
  codings.pop_back();
  auto inner =
      codingChain(ctx, joinPath(path, codingName(outer)), depth + 1, std::move(codings), contentType, true, name);
  if (!inner) return nullptr;
  return wrapCoding(ctx, path, depth, outer, std::move(inner));
}

// The codings of a Content-Encoding or Content-Transfer-Encoding value, in the order applied.
// False for one not decoded (named in *unknown).
bool codingsOf(std::string_view value, std::vector<Coding>* out, std::string* unknown) {
  size_t i = 0;
  while (i <= value.size()) {
    size_t j = value.find(',', i);
    if (j == std::string_view::npos) j = value.size();
    const std::string c = lower(trim(value.substr(i, j - i)));
    i = j + 1;
    if (c.empty() || c == "identity" || c == "7bit" || c == "8bit" || c == "binary") continue;
    if (c == "gzip" || c == "x-gzip") out->push_back(Coding::kGzip);
    else if (c == "deflate") out->push_back(Coding::kDeflate);
    else if (c == "br") out->push_back(Coding::kBrotli);
    else if (c == "base64") out->push_back(Coding::kBase64);
    else if (c == "quoted-printable") out->push_back(Coding::kQuotedPrintable);
    else {
      *unknown = c;
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------------------------------ HTTP

class HttpLayer : public Layer {
 public:
  HttpLayer(Context& ctx, std::string path, uint32_t depth) : Layer(ctx, std::move(path), depth) {}
  ~HttpLayer() override { head_.reset(ctx_); }

  void feed(const uint8_t* d, size_t n) override {
    while (n > 0 && !ctx_.stopped) {
      const size_t k = step(d, n);
      d += k;
      n -= k;
    }
  }

  void end(bool complete) override {
    if (body_) {
      // A body read to the end of the connection is whole; one with a length is cut short.
      body_->end(complete && state_ == State::kToEnd);
      body_.reset();
    }
  }

 private:
  enum class State : uint8_t { kHead, kLength, kChunkSize, kChunkData, kChunkEnd, kTrailer, kToEnd, kRaw };

  size_t step(const uint8_t* d, size_t n) {
    switch (state_) {
      case State::kHead: {
        bool done;
        const size_t k = head_.take(d, n, &done, ctx_);
        if (head_.over()) {
          ctx_.report(Unreadable::kHeaderTooLong, joinPath(path_, "http"),
                      "an HTTP header block over " + std::to_string(kMaxHeaderBlock) + " bytes");
          head_.reset(ctx_);
          enterRaw();
          return k;
        }
        if (done) {
          const std::string block = head_.text(ctx_);
          startMessage(parseHeaders(block, true));
        }
        return k;
      }
      case State::kLength: {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(left_, n));
        body(d, k);
        left_ -= k;
        if (left_ == 0) endBody();
        return k;
      }
      case State::kChunkSize: return chunkLine(d, n);
      case State::kChunkData: {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(left_, n));
        body(d, k);
        left_ -= k;
        if (left_ == 0) state_ = State::kChunkEnd, line_.clear();
        return k;
      }
      case State::kChunkEnd: {  // the CRLF after a chunk's data
        size_t i = 0;
        while (i < n && d[i] != '\n') ++i;
        if (i < n) state_ = State::kChunkSize, line_.clear();
        return i < n ? i + 1 : n;
      }
      case State::kTrailer: {  // trailer fields, up to an empty line
        size_t i = 0;
        for (; i < n; ++i) {
          if (d[i] == '\n') {
            if (line_.empty() || line_ == "\r") {
              endBody();
              return i + 1;
            }
            line_.clear();
          } else if (line_.size() < 8) {
            line_ += static_cast<char>(d[i]);
          }
        }
        return n;
      }
      case State::kToEnd:
      case State::kRaw: body(d, n); return n;
    }
    return n;
  }

  // A chunk-size line: hex digits, optional extensions, CRLF.
  size_t chunkLine(const uint8_t* d, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (d[i] != '\n') {
        if (line_.size() < 256) line_ += static_cast<char>(d[i]);
        continue;
      }
      uint64_t size = 0;
      size_t digits = 0;
      for (char c : line_) {
        int v = std::isxdigit(static_cast<unsigned char>(c)) ? std::stoi(std::string(1, c), nullptr, 16) : -1;
        if (v < 0) break;
        if (++digits > 15) break;
        size = size << 4 | static_cast<uint64_t>(v);
      }
      line_.clear();
      if (digits == 0 || digits > 15) {
        ctx_.report(Unreadable::kCorrupt, bodyPath_, "a chunk size that is not a hex number");
        if (body_) body_->end(false);
        body_.reset();
        enterRaw();
        return i + 1;
      }
      if (size == 0) {
        state_ = State::kTrailer;
      } else {
        left_ = size;
        state_ = State::kChunkData;
      }
      return i + 1;
    }
    if (line_.size() >= 256) {
      ctx_.report(Unreadable::kCorrupt, bodyPath_, "a chunk size line over 256 bytes");
      if (body_) body_->end(false);
      body_.reset();
      enterRaw();
    }
    return n;
  }

  void startMessage(const Headers& h) {
    const bool response = h.start.rfind("HTTP/", 0) == 0;
    int status = 0;
    if (response && h.start.size() >= 12) status = std::atoi(h.start.c_str() + 9);
    const bool connect = !response && h.start.rfind("CONNECT ", 0) == 0;
    const std::string te = lower(h.get("transfer-encoding"));
    const bool chunked = te.find("chunked") != std::string::npos;
    const std::string cl = h.get("content-length");
    bodyPath_ = joinPath(path_, "http.body");
    if (connect || status == 101) {
      // What follows is another protocol (a tunnel's own stream, or an upgraded connection).
      state_ = State::kRaw;
      body_ = connect ? makeStreamRoot(ctx_, path_, depth_ + 1) : makeSniff(ctx_, path_, depth_, false);
      return;
    }
    uint64_t length = 0;
    bool hasLength = false;
    if (!chunked && !cl.empty()) {
      // Several lengths that differ are an attack on whoever reads the message (RFC 9112 6.3).
      const std::string first = std::string(trim(cl.substr(0, cl.find(','))));
      char* end = nullptr;
      length = std::strtoull(first.c_str(), &end, 10);
      hasLength = end && *end == '\0' && !first.empty();
      if (!hasLength || cl.find(',') != std::string::npos) {
        if (cl.find(',') == std::string::npos || lower(cl) != first + ", " + first) {
          ctx_.report(Unreadable::kCorrupt, bodyPath_, "a Content-Length that is not one number: " + cl.substr(0, 64));
          enterRaw();
          return;
        }
      }
    }
    const bool noBody = response ? (status < 200 || status == 204 || status == 304) : (!chunked && !hasLength);
    if (noBody || (hasLength && length == 0)) {
      state_ = State::kHead;
      return;
    }
    std::vector<Coding> codings;
    std::string unknown;
    const std::string ce = h.get("content-encoding");
    if (!codingsOf(ce, &codings, &unknown) || std::any_of(codings.begin(), codings.end(), [](Coding c) {
          return c == Coding::kBase64 || c == Coding::kQuotedPrintable;
        })) {
      ctx_.report(Unreadable::kUnsupported, bodyPath_,
                  "Content-Encoding '" + (unknown.empty() ? ce : unknown) + "' is not decoded");
      codings.clear();
      body_.reset();  // its raw bytes are still scanned as the direction's bytes
    } else {
      body_ = codingChain(ctx_, bodyPath_, depth_ + 1, std::move(codings), h.get("content-type"),
                          chunked || !codings.empty(), "");
    }
    if (chunked) state_ = State::kChunkSize, line_.clear();
    else if (hasLength) state_ = State::kLength, left_ = length;
    else state_ = State::kToEnd;
  }

  void body(const uint8_t* d, size_t n) {
    if (body_ && n) body_->feed(d, n);
  }
  void endBody() {
    if (body_) body_->end(true);
    body_.reset();
    state_ = State::kHead;
  }
  // The rest of the direction is not HTTP as far as the decoder can tell: read as content.
  void enterRaw() {
    if (body_) body_->end(false);
    state_ = State::kRaw;
    body_ = makeSniff(ctx_, path_, depth_, false);
  }

  HeaderBlock head_;
  State state_ = State::kHead;
  uint64_t left_ = 0;
  std::string line_;
  std::string bodyPath_;
  std::unique_ptr<Layer> body_;
};

// ------------------------------------------------------------------------------------ multipart

// A MIME multipart body: parts between "--boundary" lines, each with its header block, its
// transfer encoding undone, and its content by its own type (a nested multipart, a file …).
class MultipartLayer : public Layer {
 public:
  MultipartLayer(Context& ctx, std::string path, uint32_t depth, std::string boundary, bool transformed)
      : Layer(ctx, std::move(path), depth), delim_("\r\n--" + boundary), transformed_(transformed) {
    delim_.primed(2);  // the first delimiter may open the body, without a line break before it
  }
  ~MultipartLayer() override { head_.reset(ctx_); }

  void feed(const uint8_t* d, size_t n) override {
    while (n > 0 && !ctx_.stopped) {
      size_t k = 0;
      switch (state_) {
        case State::kPreamble:
        case State::kPart: {
          bool found;
          k = delim_.scan(d, n, &found, [&](const uint8_t* p, size_t m) {
            if (part_) part_->feed(p, m);
          });
          if (found) {
            if (part_) part_->end(true);
            part_.reset();
            state_ = State::kAfterDelimiter;
            after_.clear();
          }
          break;
        }
        case State::kAfterDelimiter: {
          // "--" closes the body; otherwise the line ends and a part's headers follow.
          for (; k < n; ++k) {
            after_ += static_cast<char>(d[k]);
            if (after_ == "--") {
              state_ = State::kEpilogue;
              ++k;
              break;
            }
            if (d[k] == '\n') {
              state_ = State::kPartHead;
              ++k;
              break;
            }
            if (after_.size() > 64) {
              state_ = State::kPartHead;  // transport padding run long: take it as the header start
              break;
            }
          }
          break;
        }
        case State::kPartHead: {
          bool done;
          k = head_.take(d, n, &done, ctx_);
          if (head_.over()) {
            ctx_.report(Unreadable::kHeaderTooLong, path_, "a MIME part header block over the bound");
            head_.reset(ctx_);
            state_ = State::kEpilogue;
            break;
          }
          if (done) {
            const std::string block = head_.text(ctx_);
            startPart(parseHeaders(block, false));
            state_ = State::kPart;
          } else if (k < n) {
            // head_.take stops early only at its bound (handled above).
          }
          break;
        }
        case State::kEpilogue: k = n; break;
      }
      d += k;
      n -= k;
    }
  }

  void end(bool complete) override {
    if (part_) part_->end(complete);
    part_.reset();
  }

 private:
  enum class State : uint8_t { kPreamble, kAfterDelimiter, kPartHead, kPart, kEpilogue };

  void startPart(const Headers& h) {
    ++index_;
    const std::string disposition = h.get("content-disposition");
    std::string name = param(disposition, "filename");
    if (name.empty()) name = param(disposition, "name");
    if (name.empty()) name = std::to_string(index_);
    const std::string partPath = joinPath(path_, "multipart:" + pathName(name));
    std::vector<Coding> codings;
    std::string unknown;
    if (!codingsOf(h.get("content-transfer-encoding"), &codings, &unknown)) {
      ctx_.report(Unreadable::kUnsupported, partPath, "Content-Transfer-Encoding '" + unknown + "' is not decoded");
      return;
    }
    const std::string ct = h.get("content-type");
    const bool transformed = transformed_ || !codings.empty();
    // The part is a layer of its own (counted in the depth), then its transfer encoding and content.
    if (ctx_.stopped) return;
    if (depth_ + 1 > ctx_.lim.max_depth) {
      ctx_.report(Unreadable::kDepth, partPath, "nested deeper than " + std::to_string(ctx_.lim.max_depth) + " layers");
      return;
    }
    part_ = codingChain(ctx_, partPath, depth_ + 1, std::move(codings), ct, transformed, name);
  }

  DelimiterSearch delim_;
  bool transformed_;
  State state_ = State::kPreamble;
  std::string after_;
  HeaderBlock head_;
  uint32_t index_ = 0;
  std::unique_ptr<Layer> part_;
};

}  // namespace

std::unique_ptr<Layer> makeHttp(Layer::Context& ctx, const std::string& path, uint32_t depth) {
  return Layer::make<HttpLayer>(ctx, path, depth, "");
}

std::unique_ptr<Layer> makeMultipart(Layer::Context& ctx, const std::string& path, uint32_t depth, std::string boundary,
                                     bool transformed) {
  if (boundary.size() > 70) {  // RFC 2046: at most 70 characters
    ctx.report(Unreadable::kCorrupt, path, "a multipart boundary over 70 characters");
    return nullptr;
  }
  return Layer::make<MultipartLayer>(ctx, path, depth, "", std::move(boundary), transformed);
}

}  // namespace goldgate::datapolicy

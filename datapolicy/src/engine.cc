#include "goldgate/datapolicy/engine.h"

#include <hs/hs.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

namespace goldgate::datapolicy {
namespace {

constexpr unsigned kKeywordBit = 1u << 30;
constexpr uint32_t kMaxHistory = 80;  // longest value read back (validated classes need far less)
constexpr size_t kExactHashBytes = 16;
constexpr size_t kMaxPending = 16;
// Context keywords are looked for around a value in the bytes the stream keeps when the value and
// its window on both sides fit in this many bytes; wider windows stream the keywords through
// Hyperscan (short caseless literals are among the dearest things it matches in text).
constexpr uint32_t kNearHistory = 128;

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += d[p[i] >> 4], out += d[p[i] & 15];
  return out;
}

// A literal as a Hyperscan regex: every byte hex-escaped.
std::string literalRegex(const std::string& s) {
  std::string out;
  char buf[8];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  }
  return out;
}

bool isDigit(uint8_t c) { return c >= '0' && c <= '9'; }
bool isAlnum(uint8_t c) { return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Which bytes a value of the class may consist of (for walking back from a match end): classes
// of one kind read back the same bytes, so a run end they share is read once for all of them.
enum TokenKind : uint8_t { kTokExact, kTokNumeric, kTokIban, kTokEntropy, kTokOther, kTokKinds };

TokenKind tokenKind(const DataClass& d) {
  if (d.has_exact_match) return kTokExact;
  switch (validatorInfo(d.validator).shape) {
    case ValueShape::kDigits: return kTokNumeric;
    case ValueShape::kIban: return kTokIban;
    case ValueShape::kToken: return kTokEntropy;
    case ValueShape::kAny: break;
  }
  return kTokOther;
}

bool tokenByte(TokenKind k, uint8_t c) {
  switch (k) {
    case kTokExact: return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '@';
    case kTokNumeric: return isDigit(c) || c == ' ' || c == '-';
    case kTokIban: return isAlnum(c) || c == ' ';
    case kTokEntropy: return isAlnum(c) || c == '_' || c == '-';
    default: return isAlnum(c) || (c != 0 && std::strchr("._%+-@:/=", c) != nullptr);
  }
}

// Per token kind, per byte: tokenByte.
const std::array<std::array<bool, 256>, kTokKinds>& tokenTables() {
  static const auto t = [] {
    std::array<std::array<bool, 256>, kTokKinds> r{};
    for (int k = 0; k < kTokKinds; ++k)
      for (int c = 0; c < 256; ++c) r[k][c] = tokenByte(static_cast<TokenKind>(k), static_cast<uint8_t>(c));
    return r;
  }();
  return t;
}

bool tokenByte(const DataClass& d, uint8_t c) { return tokenTables()[tokenKind(d)][c]; }

bool numeric(const DataClass& d) { return validatorInfo(d.validator).shape == ValueShape::kDigits; }
bool isSep(uint8_t c) { return c == ' ' || c == '-'; }

// Whether the value's run goes on past its end (then the match is a prefix of a longer value and
// is not reported): a digit, or a separator and a digit, after a number; a letter or digit after
// an IBAN; a token byte after a token; a letter or digit, or a joiner and one, after the rest.
bool continues(const DataClass& d, bool have0, uint8_t c0, bool have1, uint8_t c1) {
  if (!have0) return false;
  if (numeric(d)) return isAlnum(c0) || (isSep(c0) && have1 && isDigit(c1));  // digits glued to letters: an identifier
  const ValueShape shape = validatorInfo(d.validator).shape;
  if (shape == ValueShape::kIban) return isAlnum(c0);
  if (shape == ValueShape::kToken) return tokenByte(d, c0);
  return isAlnum(c0) || (std::strchr("._%+-@", c0) != nullptr && c0 != 0 && have1 && isAlnum(c1));
}

// Whether `continues` needs the second byte after a value to decide, given the first.
bool needsSecondByte(const DataClass& d, uint8_t c0) {
  if (numeric(d)) return isSep(c0);
  const ValueShape shape = validatorInfo(d.validator).shape;
  if (shape == ValueShape::kIban || shape == ValueShape::kToken) return false;
  return !isAlnum(c0) && std::strchr("._%+-@", c0) != nullptr && c0 != 0;
}

std::string hmac(const std::string& key, const std::string& value) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(value.data()),
       value.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), kExactHashBytes);
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(Error::Code::kIo, path + ": cannot open: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

size_t Classifier::streamStateBytes() const {
  return stream_bytes_ + sizeof(StreamState) + classes_.size() * sizeof(StreamState::PerClass) +
         (streamed_keywords_ ? classes_.size() * sizeof(uint64_t) : 0) + runs_.states() * sizeof(RunState) + history_;
}

Classifier::~Classifier() {
  if (db_) hs_free_database(db_);
}

Result<std::shared_ptr<const Classifier>> Classifier::build(std::vector<DataClass> classes, const BuildOptions& opts) {
  std::shared_ptr<Classifier> c(new Classifier());
  c->classes_ = std::move(classes);
  if (c->classes_.size() >= (1u << 20)) return makeError(Error::Code::kInvalidArgument, "too many data classes");
  std::vector<std::string> exprs;
  std::vector<unsigned> flags, ids;
  std::vector<std::pair<uint32_t, int>> origin;  // per expression: class, line
  std::vector<RunSpec> kinds;
  for (uint32_t i = 0; i < c->classes_.size(); ++i) {
    const DataClass& d = c->classes_[i];
    // Run detectors: one kind however many classes share it.
    for (const auto& r : d.runs) {
      auto same = std::find(kinds.begin(), kinds.end(), r.spec);
      if (same != kinds.end()) {
        c->groups_[c->run_ids_[static_cast<size_t>(same - kinds.begin())]].push_back(i);
        continue;
      }
      kinds.push_back(r.spec);
      c->run_ids_.push_back(static_cast<uint32_t>(c->groups_.size()));
      c->groups_.push_back({i});
    }
    for (uint32_t j = 0; j < d.patterns.size(); ++j) {
      const Pattern& p = d.patterns[j];
      std::string e = p.literal ? literalRegex(p.expression) : p.expression;
      unsigned f = 0;
      if (p.caseless) f |= HS_FLAG_CASELESS;
      if (p.dotall) f |= HS_FLAG_DOTALL;
      if (p.multiline) f |= HS_FLAG_MULTILINE;
      // One expression compiled once however many classes share it (e.g. every numeric class's
      // digit run): Hyperscan runs one automaton, and a match goes to each class's validator.
      auto same = std::find_if(exprs.begin(), exprs.end(), [&](const std::string& x) { return x == e; });
      size_t k = static_cast<size_t>(same - exprs.begin());
      if (same != exprs.end() && flags[k] == f && !(ids[k] & kKeywordBit)) {
        c->groups_[ids[k]].push_back(i);
        continue;
      }
      exprs.push_back(e);
      flags.push_back(f);
      ids.push_back(static_cast<unsigned>(c->groups_.size()));
      c->groups_.push_back({i});
      origin.emplace_back(i, p.line);
    }
    uint32_t kwMax = 0;
    std::vector<std::string> lower;
    for (const auto& k : d.context_keywords) {
      kwMax = std::max<uint32_t>(kwMax, static_cast<uint32_t>(k.size()));
      std::string l = k;
      for (char& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      lower.push_back(l);
    }
    const uint64_t span = uint64_t{d.max_length} + d.context_window + kwMax;
    // (up to 64 keywords: one bit each in the first-byte table)
    const bool near = !d.context_keywords.empty() && span <= kNearHistory && d.context_keywords.size() <= 64;
    if (!near) {
      for (const auto& k : d.context_keywords) {
        exprs.push_back(literalRegex(k));
        flags.push_back(HS_FLAG_CASELESS);
        ids.push_back(kKeywordBit | i);
        origin.emplace_back(i, d.name_line);
        c->streamed_keywords_ = true;
      }
    }
    c->keyword_len_.push_back(kwMax);
    c->keyword_near_.push_back(near ? 1 : 0);
    c->keyword_first_.emplace_back();
    if (near)
      for (size_t k = 0; k < lower.size(); ++k)
        if (!lower[k].empty()) c->keyword_first_.back()[static_cast<uint8_t>(lower[k][0])] |= uint64_t{1} << k;
    c->keywords_lower_.push_back(std::move(lower));
    const TokenKind tk = tokenKind(d);
    static_assert(kTokKinds <= std::tuple_size_v<decltype(read_back_)>);
    c->token_kind_.push_back(tk);
    c->read_back_[tk] = std::max(c->read_back_[tk], d.max_length);
    c->history_ = std::max(c->history_, std::min(d.max_length + 1, kMaxHistory));
    if (near) c->history_ = std::max(c->history_, static_cast<uint32_t>(span));
  }
  auto runs = RunSet::build(std::move(kinds));
  if (!runs) return makeError(Error::Code::kInvalidArgument, "run detectors: " + runs.error().message);
  c->runs_ = std::move(*runs);
  if (opts.scalar_runs) c->runs_.forceScalar();

  // The cache key: Hyperscan's version and everything the database is compiled from.
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  std::string v = hs_version();
  EVP_DigestUpdate(md, v.data(), v.size() + 1);
  for (size_t k = 0; k < exprs.size(); ++k) {
    std::string rec = std::to_string(ids[k]) + ":" + std::to_string(flags[k]) + ":" + exprs[k];
    EVP_DigestUpdate(md, rec.data(), rec.size() + 1);
  }
  unsigned char digest[32];
  unsigned int dlen = 0;
  EVP_DigestFinal_ex(md, digest, &dlen);
  EVP_MD_CTX_free(md);
  c->key_ = hex(digest, 16);

  std::string cachePath = opts.cache_dir.empty() ? "" : opts.cache_dir + "/classes-" + c->key_ + ".hsdb";
  auto t0 = std::chrono::steady_clock::now();
  if (!cachePath.empty()) {
    if (auto bytes = readFile(cachePath); bytes) {
      if (hs_deserialize_database(bytes->data(), bytes->size(), &c->db_) == HS_SUCCESS) c->from_cache_ = true;
      else c->db_ = nullptr;  // stale or damaged: compile afresh and overwrite
    }
  }
  if (!c->db_ && !exprs.empty()) {
    std::vector<const char*> ptrs;
    for (const auto& e : exprs) ptrs.push_back(e.c_str());
    hs_compile_error_t* err = nullptr;
    if (hs_compile_multi(ptrs.data(), flags.data(), ids.data(), static_cast<unsigned>(ptrs.size()), HS_MODE_STREAM,
                         nullptr, &c->db_, &err) != HS_SUCCESS) {
      std::string why = err ? err->message : "unknown error";
      std::string where = "data classes";
      if (err && err->expression >= 0 && static_cast<size_t>(err->expression) < origin.size()) {
        const auto& [ci, line] = origin[static_cast<size_t>(err->expression)];
        where = c->classes_[ci].source_file + ":" + std::to_string(line);
        why = "pattern '" + exprs[static_cast<size_t>(err->expression)] + "' does not compile: " + why;
      }
      hs_free_compile_error(err);
      return makeError(Error::Code::kParse, where + ": " + why);
    }
    if (!cachePath.empty()) {
      char* bytes = nullptr;
      size_t n = 0;
      if (hs_serialize_database(c->db_, &bytes, &n) == HS_SUCCESS) {
        std::error_code ec;
        std::filesystem::create_directories(opts.cache_dir, ec);
        std::string tmp = cachePath + ".tmp";
        std::ofstream(tmp, std::ios::binary).write(bytes, static_cast<std::streamsize>(n));
        std::filesystem::rename(tmp, cachePath, ec);  // a cache that cannot be written only costs time
        std::free(bytes);
      }
    }
  }
  c->compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (c->db_) hs_stream_size(c->db_, &c->stream_bytes_);

  // Exact data match: the keyed hashes and the key.
  c->exact_.resize(c->classes_.size());
  c->exact_keys_.resize(c->classes_.size());
  for (size_t i = 0; i < c->classes_.size(); ++i) {
    const DataClass& d = c->classes_[i];
    if (!d.has_exact_match) continue;
    auto key = readFile(d.exact_match.key_file);
    if (!key) return makeError(Error::Code::kIo, d.source_file + ": exact_match.key_file: " + key.error().message);
    if (key->size() < 16)
      return makeError(Error::Code::kInvalidArgument, d.exact_match.key_file + ": a key needs at least 16 bytes");
    c->exact_keys_[i] = *key;
    auto hashes = readFile(d.exact_match.hashes_file);
    if (!hashes) return makeError(Error::Code::kIo, d.source_file + ": exact_match.hashes: " + hashes.error().message);
    std::istringstream in(*hashes);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (n == 1) {
        if (line != "goldgate-edm 1")
          return makeError(Error::Code::kParse,
                           d.exact_match.hashes_file + ":1: not a Goldgate exact-match file (goldgate-edm 1)");
        continue;
      }
      if (line.empty()) continue;
      if (line.size() != 2 * kExactHashBytes || line.find_first_not_of("0123456789abcdef") != std::string::npos)
        return makeError(Error::Code::kParse,
                         d.exact_match.hashes_file + ":" + std::to_string(n) + ": expected 32 hex digits");
      std::string raw;
      for (size_t k = 0; k < line.size(); k += 2) raw += static_cast<char>(std::stoi(line.substr(k, 2), nullptr, 16));
      c->exact_[i].insert(raw);
    }
  }
  return std::shared_ptr<const Classifier>(c);
}

std::string exactMatchHash(const std::string& key, const std::string& normalised) { return hmac(key, normalised); }

// ---------------------------------------------------------------------------------------------

struct Scanner::Ctx {
  Scanner* self;
  StreamState* s;
  const uint8_t* data;
  size_t len;
  uint64_t base;  // stream offset of data[0]
  std::vector<Finding>* out;

  // The last read back (run ends shared by classes of one token kind are read once).
  uint64_t rb_to = UINT64_MAX;
  uint8_t rb_kind = 0;
  std::string_view rb;

  // Appends the bytes at stream offsets [from, until) to `out`: all visible (from at or after the
  // history's oldest byte, until at most the piece's end).
  void copy(uint64_t from, uint64_t until, std::string& out) const {
    const std::string& h = s->history;
    if (from < base)
      out.append(h, static_cast<size_t>(from - (base - h.size())), static_cast<size_t>(std::min(until, base) - from));
    if (until > base) {
      const uint64_t a = std::max(from, base);
      out.append(reinterpret_cast<const char*>(data) + (a - base), static_cast<size_t>(until - a));
    }
  }

  // Byte at stream offset p, if still visible (history or current chunk).
  bool at(uint64_t p, uint8_t& c) const {
    if (p >= base && p - base < len) {
      c = data[p - base];
      return true;
    }
    if (p < base && base - p <= s->history.size()) {
      c = static_cast<uint8_t>(s->history[s->history.size() - (base - p)]);
      return true;
    }
    return false;
  }
};

Result<std::unique_ptr<Scanner>> Scanner::create(std::shared_ptr<const Classifier> c) {
  std::unique_ptr<Scanner> s(new Scanner());
  s->cls_ = std::move(c);
  if (s->cls_->db_ && hs_alloc_scratch(s->cls_->db_, &s->scratch_) != HS_SUCCESS)
    return makeError(Error::Code::kResource, "cannot allocate Hyperscan scratch");
  return s;
}

Scanner::~Scanner() {
  if (scratch_) hs_free_scratch(scratch_);
}

Result<void> Scanner::adopt(const Classifier& c) {
  if (c.db_ && hs_alloc_scratch(c.db_, &scratch_) != HS_SUCCESS)
    return makeError(Error::Code::kResource, "cannot grow Hyperscan scratch for a reloaded database");
  return {};
}

void Scanner::open(StreamState& s, const Classifier* c) {
  s = StreamState{};
  s.cls = c ? c : cls_.get();
  s.history.reserve(s.cls->history_);
  if (s.cls->db_) hs_open_stream(s.cls->db_, 0, &s.hs);
  s.classes.resize(s.cls->classes_.size());
  if (s.cls->streamed_keywords_) s.last_keyword.assign(s.cls->classes_.size(), UINT64_MAX);
  s.runs.resize(s.cls->runs_.states());
  s.open = true;
}

int Scanner::onMatch(unsigned int id, unsigned long long, unsigned long long to, unsigned int, void* p) {
  auto& ctx = *static_cast<Ctx*>(p);
  StreamState& s = *ctx.s;
  // Everything is handled in match order, each value once the two bytes after it are known.
  if (s.await.size() >= 64) ctx.self->processAwait(ctx, true);  // bounded: decide with what is known
  s.await.emplace_back(id, s.hs_base + to);                     // Hyperscan counts from its stream's start
  return 0;
}

void Scanner::keyword(Ctx& ctx, uint32_t cls, uint64_t to) {
  StreamState& s = *ctx.s;
  const Classifier& C = *s.cls;
  s.last_keyword[cls] = to;
  // Values of this class waiting for context: a keyword that starts within the window after one counts.
  uint64_t kwStart = to >= C.keyword_len_[cls] ? to - C.keyword_len_[cls] : 0;
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    const DataClass& d = C.classes_[it->cls];
    if (it->cls == cls && kwStart <= it->end + d.context_window) {
      emit(s, it->cls, it->end, d.confidence_with_context, std::move(it->masked), *ctx.out);
      it = s.pending.erase(it);
    } else {
      ++it;
    }
  }
}

void Scanner::processAwait(Ctx& ctx, bool final) {
  StreamState& s = *ctx.s;
  const uint64_t known = ctx.base + ctx.len;
  // Run ends and Hyperscan's matches arrive from two sources: handled in stream order.
  if (!s.runs.empty() && s.await.size() > 1)
    std::stable_sort(s.await.begin(), s.await.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  size_t i = 0;
  for (; i < s.await.size(); ++i) {
    auto [id, to] = s.await[i];
    if (id & kKeywordBit) {
      keyword(ctx, id & ~kKeywordBit, to);
      continue;
    }
    if (!final && to + 2 > known) {
      // Decide now unless the byte after the value could start its continuation (a separator
      // before more digits, a joiner before more of an address): then, and all after it, wait.
      uint8_t c0 = 0;
      if (to + 1 > known || !ctx.at(to, c0)) break;
      bool wait = false;
      for (uint32_t cls : s.cls->groups_[id]) wait = wait || needsSecondByte(s.cls->classes_[cls], c0);
      if (wait) break;
    }
    for (uint32_t cls : s.cls->groups_[id]) candidate(ctx, cls, to);
  }
  s.await.erase(s.await.begin(), s.await.begin() + static_cast<std::ptrdiff_t>(i));
}

// The bytes of token kind `kind` that end at stream offset `to`, as far back as the longest class
// of the kind reaches (or the bytes still visible): a view into the piece, or into a copy when it
// reaches back into the history. Classes sharing a run end share the read.
std::string_view Scanner::readBack(Ctx& ctx, uint64_t to, uint8_t kind) {
  if (ctx.rb_to == to && ctx.rb_kind == kind) return ctx.rb;
  const auto& tok = tokenTables()[kind];
  const uint64_t limit = ctx.s->cls->read_back_[kind];
  const std::string& h = ctx.s->history;
  const uint64_t base = ctx.base, oldest = base - h.size();
  uint64_t p = to;
  while (p > base && to - p < limit && tok[ctx.data[p - 1 - base]]) --p;  // in the piece
  if (p <= base)  // reached the piece's start (or `to` is before it): on into the kept bytes
    while (p > oldest && to - p < limit && tok[static_cast<uint8_t>(h[static_cast<size_t>(p - 1 - oldest)])]) --p;
  if (p == to) {  // no value byte before `to`, or none visible any more (the history ends after it, e.g. past a gap)
    ctx.rb = std::string_view();
  } else if (p >= base) {
    ctx.rb = std::string_view(reinterpret_cast<const char*>(ctx.data) + (p - base), static_cast<size_t>(to - p));
  } else {
    readBack_.clear();
    ctx.copy(p, to, readBack_);
    ctx.rb = readBack_;
  }
  ctx.rb_to = to;
  ctx.rb_kind = kind;
  return ctx.rb;
}

void Scanner::candidate(Ctx& ctx, uint32_t cls, uint64_t to) {
  StreamState& s = *ctx.s;
  const Classifier& C = *s.cls;
  const DataClass& d = C.classes_[cls];
  if (s.classes[cls].last_end == static_cast<uint32_t>(to)) return;  // another pattern of the class ended here already
  uint8_t n0 = 0, n1 = 0;
  bool h0 = ctx.at(to, n0), h1 = ctx.at(to + 1, n1);
  if (continues(d, h0, n0, h1, n1)) return;
  // The run of value bytes ending at `to`, at most max_length long: the end of the bytes read
  // back for the class's token kind (as long as the longest class of the kind).
  std::string_view run = readBack(ctx, to, static_cast<TokenKind>(C.token_kind_[cls]));
  if (run.size() > d.max_length) run.remove_prefix(run.size() - d.max_length);
  if (run.empty()) return;
  const uint64_t p = to - run.size();
  // Too few digits for the validator in the whole run (dates, short ids): no start can do.
  if (const size_t need = minDigits(d.validator);
      need && !d.has_exact_match && static_cast<size_t>(std::count_if(run.begin(), run.end(), [](char ch) {
                                      return isDigit(static_cast<uint8_t>(ch));
                                    })) < need)
    return;
  std::string value;
  bool needsCheck = d.validator != Validator::kNone || d.has_exact_match;
  if (!needsCheck) {
    value = run;
  } else {
    // Longest first: each start that begins a token (not in the middle of a number or word).
    for (size_t i = 0; i < run.size() && value.empty(); ++i) {
      if (!isAlnum(static_cast<uint8_t>(run[i]))) continue;
      if (i > 0 && isAlnum(static_cast<uint8_t>(run[i - 1]))) continue;
      // The bytes before this start: a value starts where its run starts, not inside a number
      // (a digit, or a separator after a digit, before it) or a word.
      uint8_t b1 = 0, b2 = 0;
      bool hb1 = i >= 1 ? (b1 = static_cast<uint8_t>(run[i - 1]), true) : ctx.at(p - 1, b1);
      bool hb2 =
          i >= 2 ? (b2 = static_cast<uint8_t>(run[i - 2]), true) : (i == 1 ? ctx.at(p - 1, b2) : ctx.at(p - 2, b2));
      if (d.boundary != Boundary::kNone && hb1 && (isDigit(b1) || (d.boundary == Boundary::kWord && isAlnum(b1))))
        continue;
      if (numeric(d) && hb1 && (isAlnum(b1) || (hb2 && isSep(b1) && isDigit(b2)))) continue;
      std::string_view cand = run.substr(i);
      while (!cand.empty() && !isAlnum(static_cast<uint8_t>(cand.back()))) cand.remove_suffix(1);
      if (cand.empty()) continue;
      bool ok = d.validator == Validator::kNone || validate(d.validator, cand, d.entropy_min);
      if (ok && d.has_exact_match) ok = C.exact_[cls].count(hmac(C.exact_keys_[cls], normaliseValue(d, cand))) > 0;
      if (ok) value = cand;
    }
  }
  if (value.empty()) return;
  if (!d.ignore.empty() && d.ignore.count(normaliseValue(d, value))) return;
  s.classes[cls].last_end = static_cast<uint32_t>(to);
  uint64_t start = to - value.size();
  std::string masked = mask(d.validator, value);
  if (d.context_keywords.empty()) {
    emit(s, cls, to, d.confidence, std::move(masked), *ctx.out);
    return;
  }
  bool context;
  if (C.keyword_near_[cls]) {
    context = keywordNear(ctx, cls, start, to);
  } else {
    uint64_t kw = s.last_keyword[cls];
    bool before = kw != UINT64_MAX && kw <= to && (kw >= start || start - kw <= d.context_window);
    bool after =
        kw != UINT64_MAX && kw > to && kw - C.keyword_len_[cls] <= to + d.context_window;  // seen while deciding
    context = before || after;
  }
  if (context) {
    emit(s, cls, to, d.confidence_with_context, std::move(masked), *ctx.out);
    return;
  }
  if (!d.context_required) {
    // Reported at once, so that the policy acts on the segment that completes the value; a
    // keyword after it cannot raise the confidence any more.
    emit(s, cls, to, d.confidence, std::move(masked), *ctx.out);
    return;
  }
  if (s.pending.size() >= kMaxPending) {  // bounded: the oldest waits no longer
    const auto& old = s.pending.front();
    if (!C.classes_[old.cls].context_required)
      emit(s, old.cls, old.end, C.classes_[old.cls].confidence, old.masked, *ctx.out);
    s.pending.erase(s.pending.begin());
  }
  s.pending.push_back({cls, start, to, std::move(masked)});
}

// Whether a keyword of `cls` ends at most its window before `start` or starts at most its window
// after `end`, among the bytes still visible (the kept history and the current piece).
bool Scanner::keywordNear(const Ctx& ctx, uint32_t cls, uint64_t start, uint64_t end) {
  const Classifier& C = *ctx.s->cls;
  const DataClass& d = C.classes_[cls];
  const uint64_t reach = uint64_t{d.context_window} + C.keyword_len_[cls];
  const uint64_t oldest = ctx.base - ctx.s->history.size();
  // The visible bytes from `reach` before the value to `reach` after it, lower-cased (ASCII, as
  // Hyperscan's caseless): the kept history, then the piece.
  const uint64_t from = std::max(oldest, start > reach ? start - reach : 0);
  const uint64_t until = std::min(ctx.base + ctx.len, end + reach);
  if (until <= from) return false;
  hay_.clear();
  ctx.copy(from, until, hay_);
  for (char& ch : hay_) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
  // One pass: at each byte, the keywords that start with it.
  const auto& first = C.keyword_first_[cls];
  const auto& kws = C.keywords_lower_[cls];
  const std::string_view hay(hay_);
  for (size_t at = 0; at < hay.size(); ++at) {
    for (uint64_t m = first[static_cast<uint8_t>(hay[at])]; m; m &= m - 1) {
      const std::string& k = kws[static_cast<size_t>(__builtin_ctzll(m))];
      if (at + k.size() > hay.size() || (k.size() > 1 && hay[at + 1] != k[1]) ||
          std::memcmp(hay.data() + at, k.data(), k.size()) != 0)
        continue;
      const uint64_t ks = from + at, ke = ks + k.size();
      if (ke + d.context_window >= start && ks <= end + d.context_window) return true;
    }
  }
  return false;
}

// Values that wait for a keyword after them (classes that look for keywords near a value): the
// bytes that have arrived since may hold one.
void Scanner::contextAfter(Ctx& ctx) {
  StreamState& s = *ctx.s;
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    if (s.cls->keyword_near_[it->cls] && keywordNear(ctx, it->cls, it->start, it->end)) {
      emit(s, it->cls, it->end, s.cls->classes_[it->cls].confidence_with_context, std::move(it->masked), *ctx.out);
      it = s.pending.erase(it);
    } else {
      ++it;
    }
  }
}

void Scanner::emit(StreamState& s, uint32_t cls, uint64_t end, double confidence, std::string masked,
                   std::vector<Finding>& out) {
  const DataClass& d = s.cls->classes_[cls];
  uint64_t n = ++s.classes[cls].count;
  Finding f{cls, end, confidence, std::move(masked), n};
  if (n < d.min_count) {
    s.held.push_back(std::move(f));
    return;
  }
  if (n == d.min_count && d.min_count > 1) {
    for (auto it = s.held.begin(); it != s.held.end();) {
      if (it->class_index == cls) {
        out.push_back(std::move(*it));
        it = s.held.erase(it);
      } else {
        ++it;
      }
    }
  }
  out.push_back(std::move(f));
}

void Scanner::resolvePending(StreamState& s, uint64_t upTo, std::vector<Finding>& out, bool all) {
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    const DataClass& d = s.cls->classes_[it->cls];
    if (all || upTo > it->end + d.context_window + s.cls->keyword_len_[it->cls]) {
      // No keyword came: a class that needs context drops the value, the others report it plainly.
      if (!d.context_required) emit(s, it->cls, it->end, d.confidence, std::move(it->masked), out);
      it = s.pending.erase(it);
    } else {
      ++it;
    }
  }
}

void Scanner::scan(StreamState& s, const uint8_t* data, size_t len, std::vector<Finding>& out) {
  if (!s.open || len == 0) return;
  // Hyperscan 5.4's AVX-512 (VBMI) Teddy reads past the end of its input (fixed upstream only in
  // the Vectorscan fork); where the chunk ends less than a vector before a page boundary, the page
  // after it may be unmapped. Such a chunk's last bytes are scanned from a padded copy: in
  // streaming mode two calls find exactly what one would.
  const auto end = reinterpret_cast<uintptr_t>(data + len);
  const size_t toPage = static_cast<size_t>(-end & 4095u);
  if (toPage >= kOverread) {
    scanPiece(s, data, len, out);
    return;
  }
  const size_t tail = std::min(len, kOverread);
  if (len > tail) scanPiece(s, data, len - tail, out);
  std::memcpy(tail_, data + len - tail, tail);
  scanPiece(s, tail_, tail, out);
}

void Scanner::scanPiece(StreamState& s, const uint8_t* data, size_t len, std::vector<Finding>& out) {
  Ctx ctx{this, &s, data, len, s.offset, &out};
  const RunSet& runs = s.cls->runs_;
  if (!runs.empty()) {
    runEnds_.clear();
    runs.scan(s.runs.data(), data, len, s.offset, runEnds_);
    awaitRunEnds(s);
  }
  if (s.hs)
    hs_scan_stream(s.hs, reinterpret_cast<const char*>(data), static_cast<unsigned>(len), 0, scratch_, onMatch, &ctx);
  processAwait(ctx, false);
  if (!s.pending.empty()) contextAfter(ctx);
  s.offset += len;
  size_t keep = s.cls->history_;
  if (len >= keep) {
    s.history.assign(reinterpret_cast<const char*>(data + len - keep), keep);
  } else {
    s.history.append(reinterpret_cast<const char*>(data), len);
    if (s.history.size() > keep) s.history.erase(0, s.history.size() - keep);
  }
  resolvePending(s, s.offset, out, false);
}

void Scanner::endRuns(Ctx& ctx) {
  StreamState& s = *ctx.s;
  if (s.runs.empty()) return;
  runEnds_.clear();
  s.cls->runs_.finish(s.runs.data(), s.offset, runEnds_);
  awaitRunEnds(s);
}

// Run ends join Hyperscan's match ends, under their detector id.
void Scanner::awaitRunEnds(StreamState& s) {
  for (const auto& [kind, end] : runEnds_) s.await.emplace_back(s.cls->run_ids_[kind], end);
}

void Scanner::skip(StreamState& s, uint64_t bytes, std::vector<Finding>& out) {
  if (!s.open) return;
  Ctx ctx{this, &s, nullptr, 0, s.offset, &out};
  endRuns(ctx);
  if (s.hs) hs_close_stream(s.hs, scratch_, onMatch, &ctx);
  processAwait(ctx, true);
  resolvePending(s, 0, out, true);
  s.hs = nullptr;
  if (s.cls->db_) hs_open_stream(s.cls->db_, 0, &s.hs);
  s.offset += bytes;
  s.hs_base = s.offset;
  s.history.clear();
  s.gap = true;
}

void Scanner::close(StreamState& s, std::vector<Finding>& out) {
  if (!s.open) return;
  Ctx ctx{this, &s, nullptr, 0, s.offset, &out};
  endRuns(ctx);
  if (s.hs) hs_close_stream(s.hs, scratch_, onMatch, &ctx);
  processAwait(ctx, true);
  s.hs = nullptr;
  s.open = false;
  resolvePending(s, 0, out, true);
  s.held.clear();  // below min_count: not reported
}

bool Scanner::mayComplete(const StreamState& s) {
  if (!s.open) return false;
  if (!s.await.empty() || !s.pending.empty()) return true;
  for (const auto& r : s.runs)
    if (r.len) return true;
  return false;
}

void Scanner::probe(const StreamState& s, std::vector<Finding>& out) {
  if (!s.open) return;
  StreamState t = s;
  t.hs = nullptr;
  if (s.hs && hs_copy_stream(&t.hs, s.hs) != HS_SUCCESS) t.hs = nullptr;  // runs and values only
  close(t, out);
}

}  // namespace goldgate::datapolicy

#include "goldgate/datapolicy/engine.h"

#include <emmintrin.h>
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
// Valid values of a class a flow direction may have named otherwise by a negative keyword before the
// rest are reported: labelling each card number "order #" does not carry card numbers out.
constexpr uint32_t kNegativeLimit = 64;
static_assert(kNegativeLimit < 127, "PerClass::negated counts to one past the limit in 7 bits");
constexpr uint32_t kMaxCount = (1u << 25) - 1;  // findings a direction counts (PerClass::count)

// One more value named otherwise: whether the direction is past the limit (it is reported).
bool negatedPastLimit(StreamState::PerClass& c) {
  if (c.negated <= kNegativeLimit) c.negated = c.negated + 1;
  return c.negated > kNegativeLimit;
}
// Context keywords are looked for around a value in the bytes the stream keeps when the value and
// its window on both sides fit in this many bytes; wider windows stream the keywords through
// Hyperscan (short caseless literals are among the dearest things it matches in text).
constexpr uint32_t kNearHistory = kNearContextBytes;
// A distance (bytes between a keyword and a value) that no window reaches.
constexpr uint32_t kFar = UINT32_MAX;

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
// Which of the first `n` (at most 64) bytes at `p` are ASCII letters or digits, a bit each.
uint64_t alnumMask(const char* p, size_t n) {
  alignas(16) uint8_t b[64] = {};
  std::memcpy(b, p, n);
  auto in = [](__m128i v, char lo, char span) {  // lo <= v <= lo + span, unsigned
    const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span)), d);
  };
  uint64_t m = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(b + 16 * k));
    const __m128i ok = _mm_or_si128(_mm_or_si128(in(v, '0', 9), in(v, 'a', 25)), in(v, 'A', 25));
    m |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(ok))} << (16 * k);
  }
  return n == 64 ? m : m & ((uint64_t{1} << n) - 1);
}

bool continues(const DataClass& d, bool have0, uint8_t c0, bool have1, uint8_t c1) {
  if (!have0) return false;
  if (numeric(d)) return isAlnum(c0) || (isSep(c0) && have1 && isDigit(c1));  // digits glued to letters: an identifier
  const ValueShape shape = validatorInfo(d.validator).shape;
  if (shape == ValueShape::kIban) return isAlnum(c0);
  if (shape == ValueShape::kToken)
    return tokenByte(d, c0) || (d.boundary == Boundary::kBase64 && (c0 == '+' || c0 == '/' || c0 == '='));
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
  auto keywordSet = [](const std::vector<std::string>& keywords) {
    KeywordSet set;
    for (const auto& k : keywords) {
      std::string l = k;
      for (char& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      set.longest = std::max<uint32_t>(set.longest, static_cast<uint32_t>(l.size()));
      set.lower.push_back(std::move(l));
    }
    if (set.lower.size() <= 64)
      for (size_t k = 0; k < set.lower.size(); ++k)
        if (!set.lower[k].empty()) set.first[static_cast<uint8_t>(set.lower[k][0])] |= uint64_t{1} << k;
    return set;
  };
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
    c->keywords_.push_back(keywordSet(d.context_keywords));
    const uint32_t kwMax = c->keywords_.back().longest;
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
    c->keyword_near_.push_back(near ? 1 : 0);
    // Negative keywords are only ever looked for before a value, in the kept bytes (the parser
    // refused a window that does not fit them).
    c->negatives_.push_back(keywordSet(d.negative_keywords));
    const TokenKind tk = tokenKind(d);
    static_assert(kTokKinds <= std::tuple_size_v<decltype(read_back_)>);
    c->token_kind_.push_back(tk);
    c->read_back_[tk] = std::max(c->read_back_[tk], d.max_length);
    c->history_ = std::max(c->history_, std::min(d.max_length + 1, kMaxHistory));
    if (near) c->history_ = std::max(c->history_, static_cast<uint32_t>(span));
    if (!d.negative_keywords.empty())
      c->history_ = std::max(c->history_, d.max_length + d.negative_window + c->negatives_.back().longest);
  }
  // explained_by: the classes by name, each with keywords that can be looked for around this
  // class's values in the kept bytes.
  for (uint32_t i = 0; i < c->classes_.size(); ++i) {
    const DataClass& d = c->classes_[i];
    c->explainers_.emplace_back();
    const std::string where = d.source_file + ":" + std::to_string(d.explained_by_line) + ": context.explained_by: ";
    if (!d.explained_by.empty() && !d.context_keywords.empty() && !c->keyword_near_[i])
      return makeError(Error::Code::kInvalidArgument,
                       where +
                           "the class's own keywords must be looked for near its values (max_length + window + "
                           "the longest keyword at most " +
                           std::to_string(kNearHistory) + ")");
    for (const auto& name : d.explained_by) {
      auto e = std::find_if(c->classes_.begin(), c->classes_.end(), [&](const DataClass& x) { return x.name == name; });
      if (e == c->classes_.end()) return makeError(Error::Code::kInvalidArgument, where + "no class '" + name + "'");
      const auto ei = static_cast<uint32_t>(e - c->classes_.begin());
      const KeywordSet& ek = c->keywords_[ei];
      const uint64_t span = uint64_t{d.max_length} + e->context_window + ek.longest;
      if (ek.lower.empty() || ek.lower.size() > 64 || span > kNearHistory)
        return makeError(Error::Code::kInvalidArgument,
                         where + "'" + name + "' needs 1 to 64 context keywords, and max_length + its window + its " +
                             "longest keyword at most " + std::to_string(kNearHistory) + " (is " +
                             std::to_string(span) + ")");
      c->explainers_.back().push_back(ei);
      c->history_ = std::max(c->history_, static_cast<uint32_t>(span));
    }
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
  const uint32_t kwLen = C.keywords_[cls].longest;
  uint64_t kwStart = to >= kwLen ? to - kwLen : 0;
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
    // Longest first: each start that begins a token (not in the middle of a number or word): the
    // letters and digits whose byte before them in the run is neither, found 64 at a time.
    for (size_t base = 0; base < run.size() && value.empty(); base += 64) {
      const size_t len = std::min<size_t>(64, run.size() - base);
      const uint64_t alnum = alnumMask(run.data() + base, len);
      const uint64_t before = alnum << 1 | (base > 0 && isAlnum(static_cast<uint8_t>(run[base - 1])) ? 1 : 0);
      for (uint64_t starts = alnum & ~before; starts && value.empty(); starts &= starts - 1) {
        const size_t i = base + static_cast<size_t>(__builtin_ctzll(starts));
        // The bytes before this start: a value starts where its run starts, not inside a number
        // (a digit, or a separator after a digit, before it) or a word.
        uint8_t b1 = 0, b2 = 0;
        bool hb1 = i >= 1 ? (b1 = static_cast<uint8_t>(run[i - 1]), true) : ctx.at(p - 1, b1);
        bool hb2 =
            i >= 2 ? (b2 = static_cast<uint8_t>(run[i - 2]), true) : (i == 1 ? ctx.at(p - 1, b2) : ctx.at(p - 2, b2));
        if (d.boundary != Boundary::kNone && hb1 &&
            (isDigit(b1) || (d.boundary != Boundary::kDigit && isAlnum(b1)) ||
             (d.boundary == Boundary::kBase64 && (b1 == '+' || b1 == '/'))))
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
  }
  if (value.empty()) return;
  if (!d.ignore.empty() && d.ignore.count(normaliseValue(d, value))) return;
  s.classes[cls].last_end = static_cast<uint32_t>(to);
  decide(ctx, cls, value, to - value.size(), to);
}

namespace {

// The length of the longest keyword of `set` that starts at `at` in `hay` (lower-cased), 0 for
// none; with `words`, only one that is not part of a longer word (no letter or digit touches a
// letter or digit at either end of it).
size_t matchAt(std::string_view hay, size_t at, const Classifier::KeywordSet& set, bool words) {
  auto alnum = [](char ch) { return isAlnum(static_cast<uint8_t>(ch)); };
  size_t best = 0;
  for (uint64_t m = set.first[static_cast<uint8_t>(hay[at])]; m; m &= m - 1) {
    const std::string& k = set.lower[static_cast<size_t>(__builtin_ctzll(m))];
    const size_t n = k.size();
    if (n <= best || at + n > hay.size() || (n > 1 && hay[at + 1] != k[1]) ||
        std::memcmp(hay.data() + at, k.data(), n) != 0)
      continue;
    if (words && ((at > 0 && alnum(k.front()) && alnum(hay[at - 1])) ||
                  (at + n < hay.size() && alnum(k.back()) && alnum(hay[at + n]))))
      continue;
    best = n;
  }
  return best;
}

// Whether a keyword of `set` may start at `at` (most bytes start none): checked inline before matchAt.
bool mayStart(std::string_view hay, size_t at, const Classifier::KeywordSet& set) {
  return set.first[static_cast<uint8_t>(hay[at])] != 0;
}

// Bytes from the end of the nearest keyword of `set` that ends at most `window` bytes before
// stream offset `start` to it (0 for one across it), kFar for none; `hay` holds the bytes from
// stream offset `hayFrom`.
uint32_t nearestBefore(std::string_view hay, uint64_t hayFrom, const Classifier::KeywordSet& set, uint64_t start,
                       uint32_t window, bool words) {
  uint32_t best = kFar;
  // From the value backwards: once a keyword is found, one starting more than the longest
  // keyword's length before it cannot end nearer.
  const uint64_t lo = std::max(hayFrom, start > uint64_t{window} + set.longest ? start - window - set.longest : 0);
  for (uint64_t p = std::min(start, hayFrom + hay.size()); p > lo; --p) {
    if (best != kFar && p - 1 + set.longest < start - best) break;
    const size_t at = static_cast<size_t>(p - 1 - hayFrom);
    const size_t n = mayStart(hay, at, set) ? matchAt(hay, at, set, words) : 0;
    if (n == 0) continue;
    const uint64_t ke = p - 1 + n;
    if (ke > start) return 0;
    if (start - ke <= window) best = std::min(best, static_cast<uint32_t>(start - ke));
  }
  return best;
}

// Whether a keyword of `set` ends at most `window` bytes before `start` or overlaps [start, end).
bool anyBefore(std::string_view hay, uint64_t hayFrom, const Classifier::KeywordSet& set, uint64_t start, uint64_t end,
               uint32_t window) {
  const uint64_t lo = std::max(hayFrom, start > uint64_t{window} + set.longest ? start - window - set.longest : 0);
  for (uint64_t p = lo; p < end && p < hayFrom + hay.size(); ++p) {
    const size_t at = static_cast<size_t>(p - hayFrom);
    const size_t n = mayStart(hay, at, set) ? matchAt(hay, at, set, false) : 0;
    if (n && p + n + window >= start) return true;
  }
  return false;
}

}  // namespace

// What the words around the value [start, end) of `cls` say, among the visible bytes (the kept
// history and the piece): its own keywords (near the value, or the last one streamed), its negative
// keywords, and the keywords of the explaining classes in `explainers` (bits of its explained_by).
// Before the value the nearest word decides (a tie goes to the class's own keyword); only without
// any, the nearest after it.
Scanner::Verdict Scanner::judge(const Ctx& ctx, uint32_t cls, uint64_t start, uint64_t end, uint8_t explainers) {
  const StreamState& s = *ctx.s;
  const Classifier& C = *s.cls;
  const DataClass& d = C.classes_[cls];
  const Classifier::KeywordSet& own = C.keywords_[cls];
  const Classifier::KeywordSet& neg = C.negatives_[cls];
  const bool nearOwn = C.keyword_near_[cls];
  uint32_t ownBefore = kFar, ownAfter = kFar;  // streamed: from the end of the last one seen
  if (!nearOwn && !d.context_keywords.empty()) {
    const uint64_t kw = s.last_keyword[cls];
    if (kw != UINT64_MAX && kw <= end) {
      if (kw >= start) ownBefore = 0;
      else if (start - kw <= d.context_window) ownBefore = static_cast<uint32_t>(start - kw);
    } else if (kw != UINT64_MAX && kw - own.longest <= end + d.context_window) {  // seen while deciding
      ownAfter = kw - own.longest > end ? static_cast<uint32_t>(kw - own.longest - end) : 0;
    }
  }
  // How far before and after the value the keywords looked for here may lie.
  uint64_t before = 0, after = 0;
  if (nearOwn) before = after = uint64_t{d.context_window} + own.longest;
  if (!neg.lower.empty())  // and the byte before, to tell a word from the end of a longer one
    before = std::max<uint64_t>(before, uint64_t{d.negative_window} + neg.longest + 1);
  for (size_t i = 0; i < C.explainers_[cls].size(); ++i) {
    if (!(explainers >> i & 1)) continue;
    const uint32_t e = C.explainers_[cls][i];
    const uint64_t reach = uint64_t{C.classes_[e].context_window} + C.keywords_[e].longest;
    before = std::max(before, reach);
    after = std::max(after, reach);
  }
  const uint64_t oldest = ctx.base - s.history.size();
  const uint64_t from = std::max(oldest, start > before ? start - before : 0);
  const uint64_t until = std::min(ctx.base + ctx.len, end + after);
  if (before + after == 0 || until <= from) {
    if (ownBefore != kFar || ownAfter != kFar) return Verdict::kContext;
    return Verdict::kNone;
  }
  // Lower-cased (ASCII, as Hyperscan's caseless).
  hay_.clear();
  ctx.copy(from, until, hay_);
  for (char& ch : hay_) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
  const std::string_view hay(hay_);
  // Before the value: a negative keyword, or an explaining class's keyword, against one of its own.
  const uint32_t negative = neg.lower.empty() ? kFar : nearestBefore(hay, from, neg, start, d.negative_window, true);
  uint32_t against = negative;
  for (size_t i = 0; i < C.explainers_[cls].size(); ++i)
    if (explainers >> i & 1) {
      const uint32_t e = C.explainers_[cls][i];
      against = std::min(against, nearestBefore(hay, from, C.keywords_[e], start, C.classes_[e].context_window, false));
    }
  if (nearOwn ? anyBefore(hay, from, own, start, end, std::min(d.context_window, against))
              : ownBefore != kFar && ownBefore <= against)
    return Verdict::kContext;
  if (against != kFar) return against == negative ? Verdict::kNegative : Verdict::kDrop;
  if (ownAfter != kFar) return Verdict::kContext;
  // After it, the first keyword decides: its own, or an explaining class's.
  for (uint64_t p = end; p < until; ++p) {
    const size_t at = static_cast<size_t>(p - from);
    if (nearOwn && p - end <= d.context_window && mayStart(hay, at, own) && matchAt(hay, at, own, false))
      return Verdict::kContext;
    for (size_t i = 0; i < C.explainers_[cls].size(); ++i) {
      const uint32_t e = C.explainers_[cls][i];
      if ((explainers >> i & 1) && p - end <= C.classes_[e].context_window && mayStart(hay, at, C.keywords_[e]) &&
          matchAt(hay, at, C.keywords_[e], false))
        return Verdict::kDrop;
    }
  }
  return Verdict::kNone;
}

// A valid value of `cls`: reported (with or without context), dropped, or kept waiting for the
// keyword after it that decides.
void Scanner::decide(Ctx& ctx, uint32_t cls, std::string_view value, uint64_t start, uint64_t end) {
  StreamState& s = *ctx.s;
  const Classifier& C = *s.cls;
  const DataClass& d = C.classes_[cls];
  uint8_t explainers = 0;  // the explaining classes the value validates as
  for (size_t i = 0; i < C.explainers_[cls].size(); ++i) {
    const DataClass& e = C.classes_[C.explainers_[cls][i]];
    if (validate(e.validator, value, e.entropy_min)) explainers |= static_cast<uint8_t>(1u << i);
  }
  Verdict v = judge(ctx, cls, start, end, explainers);
  if (v == Verdict::kDrop) return;
  if (v == Verdict::kNegative) {
    // A sender that names every card number an order number is sending card numbers: past the
    // limit, a direction's values named otherwise are reported again (without context).
    if (!negatedPastLimit(s.classes[cls])) return;
    emit(s, cls, end, d.confidence, mask(d.validator, value), *ctx.out);
    return;
  }
  std::string masked = mask(d.validator, value);
  if (v == Verdict::kContext) {
    emit(s, cls, end, d.confidence_with_context, std::move(masked), *ctx.out);
    return;
  }
  // No keyword yet. Reported at once with `base`, so that the policy acts on the segment that
  // completes the value, unless a keyword after it can still decide: one of its own when it needs
  // one (context.required, or `base` below min_confidence), or an explaining class's.
  const bool needsOwn = d.context_required || d.confidence < d.min_confidence;
  if (!needsOwn && !explainers) {
    emit(s, cls, end, d.confidence, std::move(masked), *ctx.out);
    return;
  }
  uint64_t until = end;
  if (needsOwn) until = end + d.context_window + C.keywords_[cls].longest;
  for (size_t i = 0; i < C.explainers_[cls].size(); ++i)
    if (explainers >> i & 1) {
      const uint32_t e = C.explainers_[cls][i];
      until = std::max(until, end + C.classes_[e].context_window + C.keywords_[e].longest);
    }
  if (s.pending.size() >= kMaxPending) {  // bounded: the oldest waits no longer
    auto& old = s.pending.front();
    if (!C.classes_[old.cls].context_required)
      emit(s, old.cls, old.end, C.classes_[old.cls].confidence, std::move(old.masked), *ctx.out);
    s.pending.erase(s.pending.begin());
  }
  s.pending.push_back({cls, start, end, until, explainers, std::move(masked)});
}

// Values waiting for a keyword after them (looked for near a value): the bytes that have arrived
// since may hold one.
void Scanner::contextAfter(Ctx& ctx) {
  StreamState& s = *ctx.s;
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    if (!s.cls->keyword_near_[it->cls] && !it->explainers) {
      ++it;
      continue;
    }
    switch (judge(ctx, it->cls, it->start, it->end, it->explainers)) {
      case Verdict::kNone: ++it; continue;
      case Verdict::kContext:
        emit(s, it->cls, it->end, s.cls->classes_[it->cls].confidence_with_context, std::move(it->masked), *ctx.out);
        break;
      case Verdict::kNegative:
        if (negatedPastLimit(s.classes[it->cls]))
          emit(s, it->cls, it->end, s.cls->classes_[it->cls].confidence, std::move(it->masked), *ctx.out);
        break;
      case Verdict::kDrop: break;
    }
    it = s.pending.erase(it);
  }
}

void Scanner::emit(StreamState& s, uint32_t cls, uint64_t end, double confidence, std::string masked,
                   std::vector<Finding>& out) {
  const DataClass& d = s.cls->classes_[cls];
  if (confidence < d.min_confidence) return;  // below the class's floor: neither reported nor counted
  auto& pc = s.classes[cls];
  if (pc.count < kMaxCount) pc.count = pc.count + 1;
  uint64_t n = pc.count;
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
    if (all || upTo > it->until) {
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

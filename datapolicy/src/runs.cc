#include "goldgate/datapolicy/runs.h"

#include <immintrin.h>

#include <algorithm>

namespace goldgate::datapolicy {
namespace {

constexpr uint32_t kMaxMinLength = 64;
constexpr uint16_t kLenCap = 0xffff;

ByteSet digits() {
  ByteSet s;
  for (int c = '0'; c <= '9'; ++c) s.set(static_cast<size_t>(c));
  return s;
}

ByteSet wordBytes() {
  ByteSet s = digits();
  for (int c = 'a'; c <= 'z'; ++c) s.set(static_cast<size_t>(c)), s.set(static_cast<size_t>(c - 'a' + 'A'));
  s.set('_');
  return s;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint16_t addLen(uint32_t a, uint32_t b) { return static_cast<uint16_t>(std::min<uint32_t>(a + b, kLenCap)); }

}  // namespace

Result<ByteSet> parseByteSet(std::string_view s) {
  ByteSet out;
  // One byte at i (escapes resolved); a class escape (\d \w \s) returns -1 and adds its bytes.
  auto one = [&](size_t& i, int& byte) -> Result<void> {
    if (s[i] != '\\') {
      byte = static_cast<unsigned char>(s[i++]);
      return {};
    }
    if (i + 1 >= s.size()) return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "': unfinished escape");
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'd': out |= digits(), byte = -1; return {};
      case 'w': out |= wordBytes(), byte = -1; return {};
      case 's':
        for (char c : {' ', '\t', '\n', '\r', '\f', '\v'}) out.set(static_cast<unsigned char>(c));
        byte = -1;
        return {};
      case 't': byte = '\t'; return {};
      case 'n': byte = '\n'; return {};
      case 'r': byte = '\r'; return {};
      case 'x': {
        int hi = i < s.size() ? hexValue(s[i]) : -1, lo = i + 1 < s.size() ? hexValue(s[i + 1]) : -1;
        if (hi < 0 || lo < 0) return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "': \\x needs two hex digits");
        byte = hi * 16 + lo;
        i += 2;
        return {};
      }
      case '\\': case '-': case ']': case '[': case '^': case ' ': case '.': case '_': case '+': case '/': case '=':
        byte = static_cast<unsigned char>(e);
        return {};
      default:
        return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "': unknown escape '\\" + std::string(1, e) + "'");
    }
  };
  size_t i = 0;
  while (i < s.size()) {
    int a = 0;
    if (auto r = one(i, a); !r) return r.error();
    if (a < 0) continue;
    // A range a-b, unless the '-' is the last byte of the set.
    if (i + 1 < s.size() && s[i] == '-') {
      size_t j = i + 1;
      int b = 0;
      if (auto r = one(j, b); !r) return r.error();
      if (b < 0) return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "': a range cannot end in a class escape");
      if (b < a) return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "': reversed range");
      for (int c = a; c <= b; ++c) out.set(static_cast<size_t>(c));
      i = j;
      continue;
    }
    out.set(static_cast<size_t>(a));
  }
  if (out.none()) return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "' is empty");
  return out;
}

Result<RunSet> RunSet::build(std::vector<RunSpec> kinds) {
  RunSet r;
  for (const auto& k : kinds) {
    if (k.min_length < 1 || k.min_length > kMaxMinLength)
      return makeError(Error::Code::kInvalidArgument, "a run's min_length is 1..64");
    if ((k.bytes & k.joiners).any()) return makeError(Error::Code::kInvalidArgument, "a run's joiner is also one of its bytes");
    if (k.bytes.none()) return makeError(Error::Code::kInvalidArgument, "a run needs bytes");
    if (k.bytes.test(0) || k.joiners.test(0))
      return makeError(Error::Code::kInvalidArgument, "a run cannot contain NUL (it pads the last block)");
  }
  r.kinds_ = std::move(kinds);
  // Kinds with the same bytes and joiners are one machine (its state does not depend on the
  // minimum), read once; each kind of it reports at its own minimum.
  std::vector<size_t> first;  // per family: its first kind
  for (uint32_t k = 0; k < r.kinds_.size(); ++k) {
    size_t f = 0;
    while (f < first.size() && !(r.kinds_[first[f]].bytes == r.kinds_[k].bytes && r.kinds_[first[f]].joiners == r.kinds_[k].joiners)) ++f;
    if (f == first.size()) {
      first.push_back(k);
      r.families_.emplace_back();
    }
    r.families_[f].kinds.emplace_back(k, r.kinds_[k].min_length);
  }
  r.lut_.assign((r.families_.size() + 3) / 4, {});
  for (size_t f = 0; f < r.families_.size(); ++f) {
    Family& fam = r.families_[f];
    std::sort(fam.kinds.begin(), fam.kinds.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    fam.min = fam.kinds.front().second;
    fam.no_joiners = r.kinds_[first[f]].joiners.none();
    // A run of at least 2k-1 bytes inside a block covers an aligned group of k: one test a
    // block for long minimums; shorter ones test for a run of a power of two exactly.
    if (fam.min >= 31) fam.filter = Family::Filter::kAligned16;
    else if (fam.min >= 15) fam.filter = Family::Filter::kAligned8;
    else
      while (fam.shift * 2 <= fam.min) fam.shift = static_cast<uint8_t>(fam.shift * 2);
    auto& lut = r.lut_[f / 4];
    const unsigned bit = 2 * (f % 4);
    const RunSpec& spec = r.kinds_[first[f]];
    for (size_t c = 0; c < 256; ++c) {
      if (spec.bytes.test(c)) lut[c] |= static_cast<uint8_t>(1u << bit);
      if (spec.joiners.test(c)) lut[c] |= static_cast<uint8_t>(2u << bit);
    }
  }
  r.simd_ = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi");
  return r;
}

// The machine of family f, one byte of class bits `cls` (its group's LUT entry) at stream offset `at`.
inline void RunSet::step(uint32_t f, RunState& s, uint8_t cls, uint64_t at, std::vector<RunEnd>& out) const {
  const unsigned bit = 2 * (f % 4);
  const bool w = (cls >> bit) & 1u, j = (cls >> (bit + 1)) & 1u;
  if (w) {
    s.len = s.last_w ? addLen(s.len, 1) : s.pend_j ? addLen(s.len, 2) : 1;
    s.last_w = 1;
    s.pend_j = 0;
    return;
  }
  if (s.last_w) {
    if (s.len >= families_[f].min)  // the group ended just before this byte
      for (const auto& [k, min] : families_[f].kinds) {
        if (s.len < min) break;
        out.emplace_back(k, at);
      }
    s.last_w = 0;
    s.pend_j = j;
    if (!j) s.len = 0;
    return;
  }
  s.pend_j = 0;
  s.len = 0;
}

void RunSet::scanScalar(RunState* st, const uint8_t* data, size_t len, uint64_t base, std::vector<RunEnd>& out) const {
  for (size_t i = 0; i < len; ++i)
    for (uint32_t f = 0; f < families_.size(); ++f) step(f, st[f], lut_[f / 4][data[i]], base + i, out);
}

void RunSet::scan(RunState* st, const uint8_t* data, size_t len, uint64_t base, std::vector<RunEnd>& out) const {
  if (kinds_.empty() || len == 0) return;
  if (simd_) scanBlocks(st, data, len, base, out);
  else scanScalar(st, data, len, base, out);
}

void RunSet::finish(RunState* st, uint64_t end, std::vector<RunEnd>& out) const {
  for (uint32_t f = 0; f < families_.size(); ++f) {
    if (st[f].last_w)
      for (const auto& [k, min] : families_[f].kinds)
        if (st[f].len >= min) out.emplace_back(k, end);
    st[f] = RunState{};
  }
}

// The machine's state after a block of n bytes whose value bytes are W and run bytes T (value
// bytes and joiners), given the state before it, with no value reported inside the block: the
// run that ends the block is its value bytes and the joiners between two of them, counted back
// from its last value byte to the first byte that is neither (the carried run if there is none).
void RunSet::advance(RunState& s, uint64_t T, uint64_t W, size_t n) {
  const uint64_t J = T & ~W;
  const uint64_t prevW = (W << 1) | s.last_w;
  const uint32_t lw = static_cast<uint32_t>(W >> (n - 1)) & 1u;
  const uint32_t pj = static_cast<uint32_t>((J & prevW) >> (n - 1)) & 1u;
  const uint64_t Tx = W | (J & prevW & (W >> 1));
  const uint32_t cnt = static_cast<uint32_t>(n) - 1u + lw;  // bytes up to the run's last value byte
  const uint64_t upTo = cnt == 64 ? ~0ull : (1ull << cnt) - 1;
  const uint64_t holes = ~Tx & upTo;
  const uint32_t back = s.last_w ? s.len : (s.pend_j && (W & 1u)) ? s.len + 1u : 0u;
  const uint32_t runLen =
      holes ? cnt - 64u + static_cast<uint32_t>(__builtin_clzll(holes)) : cnt + back;
  s.len = (lw | pj) ? static_cast<uint16_t>(std::min<uint32_t>(runLen, kLenCap)) : 0;
  s.last_w = static_cast<uint8_t>(lw);
  s.pend_j = static_cast<uint8_t>(pj);
}

#define GG_RUNS_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi,bmi,bmi2,lzcnt")))

// One 64-byte block's class bits for a group of four families (two VBMI permutes over the
// 256-entry table), and its valid-byte mask (the last block of a piece may be short).
GG_RUNS_TARGET static inline __m512i blockClasses(const __m512i (&tab)[4], const uint8_t* data, size_t len, size_t b,
                                                  uint64_t& valid, size_t& n) {
  const size_t off = 64 * b;
  n = std::min<size_t>(64, len - off);
  valid = n == 64 ? ~0ull : (1ull << n) - 1;
  const __m512i v = n == 64 ? _mm512_loadu_si512(data + off) : _mm512_maskz_loadu_epi8(valid, data + off);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), _mm512_permutex2var_epi8(tab[0], v, tab[1]),
                                _mm512_permutex2var_epi8(tab[2], v, tab[3]));
}

// The exact state of family f at the start of block `to`: from the last block before it with a
// byte outside the family's run bytes (every run breaks there), or from the state known at block
// `known` (st) if that is later.
GG_RUNS_TARGET RunState RunSet::rebuild(const Piece& p, uint32_t f, size_t to, long lastBreak, size_t known) const {
  RunState s = p.st[f];
  size_t from = known;
  if (lastBreak >= 0 && static_cast<size_t>(lastBreak) >= from) {
    from = static_cast<size_t>(lastBreak);
    s = RunState{};
  }
  const uint8_t* t = lut_[f / 4].data();
  const __m512i tab[4] = {_mm512_loadu_si512(t), _mm512_loadu_si512(t + 64), _mm512_loadu_si512(t + 128),
                          _mm512_loadu_si512(t + 192)};
  const unsigned bit = 2 * (f % 4);
  for (size_t b = from; b < to; ++b) {
    uint64_t valid = 0;
    size_t n = 0;
    const __m512i cls = blockClasses(tab, p.data, p.len, b, valid, n);
    const uint64_t T = _mm512_test_epi8_mask(cls, _mm512_set1_epi8(static_cast<char>(3u << bit))) & valid;
    const uint64_t W = _mm512_test_epi8_mask(cls, _mm512_set1_epi8(static_cast<char>(1u << bit))) & valid;
    advance(s, T, W, n);
  }
  return s;
}

// Block b of family f byte by byte, from the exact state at its start (rare).
__attribute__((noinline, cold)) size_t RunSet::readBlock(const Piece& p, uint32_t f, size_t b, long lastBreak,
                                                        size_t known) const {
  RunState s = rebuild(p, f, b, lastBreak, known);
  const auto& lut = lut_[f / 4];
  const size_t off = 64 * b, n = std::min<size_t>(64, p.len - off);
  for (size_t i = 0; i < n; ++i) step(f, s, lut[p.data[off + i]], p.base + off + i, *p.out);
  p.st[f] = s;
  return b + 1;  // the state is known from the next block on
}

// 64 bytes at a time, F families (one table) at once: each family's run bytes T = W|J (a superset
// of every run). A block is read byte by byte only where a run can reach the minimum: inside it
// (a run of a power of two, or an aligned lane of 8 or 16 bytes all run bytes: a run of 2k-1
// covers an aligned k), or across its start (the run bytes ending the block before and starting
// this one). No state is kept between such blocks: the machine's state at a block that must be
// read, and at the end of the piece, is rebuilt from the masks (rebuild).
template <size_t F>
GG_RUNS_TARGET void RunSet::scanGroup(const Piece& p, size_t g) const {
  constexpr uint64_t kOnes8 = 0x0101010101010101ull, kHigh8 = 0x8080808080808080ull;
  constexpr uint64_t kOnes16 = 0x0001000100010001ull, kHigh16 = 0x8000800080008000ull;
  const uint8_t* t = lut_[g].data();
  const __m512i tab[4] = {_mm512_loadu_si512(t), _mm512_loadu_si512(t + 64), _mm512_loadu_si512(t + 128),
                          _mm512_loadu_si512(t + 192)};
  const size_t blocks = (p.len + 63) / 64;
  const uint32_t f0 = static_cast<uint32_t>(4 * g);
  uint64_t ones[F], high[F], shiftMask[F];
  uint32_t sa[F], sb[F], sc[F], min[F], trail[F];
  long lastBreak[F];
  size_t known[F];
  for (size_t i = 0; i < F; ++i) {
    const Family& fam = families_[f0 + i];
    ones[i] = high[i] = shiftMask[i] = 0;
    sa[i] = sb[i] = sc[i] = 0;
    if (fam.filter == Family::Filter::kAligned16) ones[i] = kOnes16, high[i] = kHigh16;
    else if (fam.filter == Family::Filter::kAligned8) ones[i] = kOnes8, high[i] = kHigh8;
    else {
      shiftMask[i] = ~0ull;
      sa[i] = fam.shift >= 2 ? 1 : 0, sb[i] = fam.shift >= 4 ? 2 : 0, sc[i] = fam.shift >= 8 ? 4 : 0;
    }
    min[i] = fam.min;
    const RunState& s = p.st[f0 + i];
    trail[i] = (s.last_w | s.pend_j) ? s.len + s.pend_j : 0u;  // the run bytes before the piece
    lastBreak[i] = -1;
    known[i] = 0;
  }
  for (size_t b = 0; b < blocks; ++b) {
    uint64_t valid = 0;
    size_t n = 0;
    const __m512i cls = blockClasses(tab, p.data, p.len, b, valid, n);
#pragma GCC unroll 4
    for (size_t i = 0; i < F; ++i) {
      const uint64_t T = _mm512_test_epi8_mask(cls, _mm512_set1_epi8(static_cast<char>(3u << (2 * i)))) & valid;
      uint64_t S = T;
      S &= S >> sa[i];
      S &= S >> sb[i];
      S &= S >> sc[i];
      const uint64_t hit = (S & shiftMask[i]) | ((~T - ones[i]) & T & high[i]);
      const uint32_t lead = static_cast<uint32_t>(_tzcnt_u64(~T));
      const uint32_t before = trail[i];
      trail[i] = T == ~0ull ? std::min<uint32_t>(before + 64, kLenCap) : static_cast<uint32_t>(_lzcnt_u64(~T));
      if (__builtin_expect(hit != 0 || before + lead >= min[i], 0))
        known[i] = readBlock(p, f0 + static_cast<uint32_t>(i), b, lastBreak[i], known[i]);
      lastBreak[i] = T != valid ? static_cast<long>(b) : lastBreak[i];
    }
  }
  for (size_t i = 0; i < F; ++i)
    p.st[f0 + i] = rebuild(p, f0 + static_cast<uint32_t>(i), blocks, lastBreak[i], known[i]);
}

void RunSet::scanBlocks(RunState* st, const uint8_t* data, size_t len, uint64_t base, std::vector<RunEnd>& out) const {
  const Piece p{st, data, len, base, &out};
  for (size_t g = 0; g < lut_.size(); ++g) {
    switch (std::min<size_t>(4, families_.size() - 4 * g)) {
      case 1: scanGroup<1>(p, g); break;
      case 2: scanGroup<2>(p, g); break;
      case 3: scanGroup<3>(p, g); break;
      default: scanGroup<4>(p, g); break;
    }
  }
}

}  // namespace goldgate::datapolicy

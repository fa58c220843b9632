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
    if (i + 1 >= s.size())
      return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "': unfinished escape");
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
        if (hi < 0 || lo < 0)
          return makeError(Error::Code::kParse, "byte set '" + std::string(s) + "': \\x needs two hex digits");
        byte = hi * 16 + lo;
        i += 2;
        return {};
      }
      case '\\':
      case '-':
      case ']':
      case '[':
      case '^':
      case ' ':
      case '.':
      case '_':
      case '+':
      case '/':
      case '=': byte = static_cast<unsigned char>(e); return {};
      default:
        return makeError(Error::Code::kParse,
                         "byte set '" + std::string(s) + "': unknown escape '\\" + std::string(1, e) + "'");
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
      if (b < 0)
        return makeError(Error::Code::kParse,
                         "byte set '" + std::string(s) + "': a range cannot end in a class escape");
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
    if ((k.bytes & k.joiners).any())
      return makeError(Error::Code::kInvalidArgument, "a run's joiner is also one of its bytes");
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
    while (f < first.size() &&
           !(r.kinds_[first[f]].bytes == r.kinds_[k].bytes && r.kinds_[first[f]].joiners == r.kinds_[k].joiners))
      ++f;
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
    auto& lut = r.lut_[f / 4];
    const unsigned bit = 2 * (f % 4);
    const RunSpec& spec = r.kinds_[first[f]];
    for (size_t c = 0; c < 256; ++c) {
      if (spec.bytes.test(c)) lut[c] |= static_cast<uint8_t>(1u << bit);
      if (spec.joiners.test(c)) lut[c] |= static_cast<uint8_t>(2u << bit);
    }
  }
  // How scanGroup tests each family: runs of 2^L run bytes (L its level, the largest power of two
  // up to its minimum, at most 16) from the byte-domain chain; or, for minimums of 31 and more, an
  // aligned 16-byte lane of run bytes (a run of 31 always covers one), which needs no chain.
  r.groups_.assign(r.lut_.size(), Group{});
  for (size_t f = 0; f < r.families_.size(); ++f) {
    Family& fam = r.families_[f];
    Group& g = r.groups_[f / 4];
    const auto bit = static_cast<uint8_t>(1u << (2 * (f % 4)));
    if (fam.min >= 31) {
      fam.level = -1;
      g.aligned_bits |= bit;
      continue;
    }
    int l = 0;
    while (l < 4 && (2u << l) <= fam.min) ++l;
    fam.level = static_cast<int8_t>(l);
    g.level_bits[l] |= bit;
    g.top = std::max<uint8_t>(g.top, static_cast<uint8_t>(l));
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
  const uint32_t runLen = holes ? cnt - 64u + static_cast<uint32_t>(__builtin_clzll(holes)) : cnt + back;
  s.len = (lw | pj) ? static_cast<uint16_t>(std::min<uint32_t>(runLen, kLenCap)) : 0;
  s.last_w = static_cast<uint8_t>(lw);
  s.pend_j = static_cast<uint8_t>(pj);
}

#define GG_RUNS_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi,bmi,bmi2,lzcnt")))

// A group's 256-entry table in four registers.
GG_RUNS_TARGET static inline void loadTable(const std::array<uint8_t, 256>& lut, __m512i (&tab)[4]) {
  for (int q = 0; q < 4; ++q) tab[q] = _mm512_loadu_si512(lut.data() + 64 * q);
}

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
// byte outside the family's run bytes (every run breaks there), found walking back, or from the
// state known at block `known` (st) if no such block comes after it.
GG_RUNS_TARGET RunState RunSet::rebuild(const Piece& p, uint32_t f, size_t to, size_t known) const {
  __m512i tab[4];
  loadTable(lut_[f / 4], tab);
  const unsigned bit = 2 * (f % 4);
  const __m512i runBits = _mm512_set1_epi8(static_cast<char>(3u << bit)),
                valueBits = _mm512_set1_epi8(static_cast<char>(1u << bit));
  RunState s = p.st[f];
  size_t from = to;
  while (from > known) {
    uint64_t valid = 0;
    size_t n = 0;
    const __m512i cls = blockClasses(tab, p.data, p.len, from - 1, valid, n);
    --from;
    if ((_mm512_test_epi8_mask(cls, runBits) & valid) != valid) {  // a break: nothing before it counts
      s = RunState{};
      break;
    }
  }
  for (size_t b = from; b < to; ++b) {
    uint64_t valid = 0;
    size_t n = 0;
    const __m512i cls = blockClasses(tab, p.data, p.len, b, valid, n);
    advance(s, _mm512_test_epi8_mask(cls, runBits) & valid, _mm512_test_epi8_mask(cls, valueBits) & valid, n);
  }
  return s;
}

// Block b of family f, from the exact state at its start: what the machine reports reading it,
// from the masks. A value is reported where a group of value bytes ends (a value byte, then a byte
// that is not one) and the exact run reaching back from it (value bytes, joiners between two of
// them, and the carried run if it reaches the block's start) is long enough; a group that ends
// the block is decided with the next one. Returns whether a run is still open at the end (the
// next block must be read too: the run may end there).
__attribute__((noinline)) GG_RUNS_TARGET bool RunSet::readBlock(const Piece& p, uint32_t f, size_t b,
                                                                size_t& known) const {
  RunState s = rebuild(p, f, b, known);
  __m512i tab[4];
  loadTable(lut_[f / 4], tab);
  uint64_t valid = 0;
  size_t n = 0;
  const __m512i cls = blockClasses(tab, p.data, p.len, b, valid, n);
  const unsigned bit = 2 * (f % 4);
  const uint64_t T = _mm512_test_epi8_mask(cls, _mm512_set1_epi8(static_cast<char>(3u << bit))) & valid;
  const uint64_t W = _mm512_test_epi8_mask(cls, _mm512_set1_epi8(static_cast<char>(1u << bit))) & valid;
  const uint64_t J = T & ~W, prevW = (W << 1) | s.last_w;
  const uint64_t Tx = W | (J & prevW & (W >> 1));
  const uint32_t back = s.last_w ? s.len : (s.pend_j && (W & 1u)) ? s.len + 1u : 0u;
  const uint64_t at0 = p.base + 64 * b;
  const Family& fam = families_[f];
  auto report = [&](uint32_t len, uint64_t at) {
    if (len < fam.min) return;
    for (const auto& [k, min] : fam.kinds) {
      if (len < min) break;
      p.out->emplace_back(k, at);
    }
  };
  if (s.last_w && !(W & 1u)) report(s.len, at0);  // a run that ended the block before
  // Group ends inside the block: a value byte at i, none at i + 1.
  uint64_t ends = W & ~(W >> 1) & (n == 64 ? ~0ull >> 1 : (1ull << (n - 1)) - 1);
  while (ends) {
    const unsigned i = static_cast<unsigned>(_tzcnt_u64(ends));
    ends &= ends - 1;
    const uint64_t holes = ~Tx & ((2ull << i) - 1);
    const uint32_t len = holes ? i - (63u - static_cast<unsigned>(_lzcnt_u64(holes))) : i + 1u + back;
    report(std::min<uint32_t>(len, kLenCap), at0 + i + 1);
  }
  advance(s, T, W, n);
  p.st[f] = s;
  known = b + 1;
  return s.last_w || s.pend_j;
}

// Byte permutes (two sources: this block, the block before) that move every byte 2^(l) later.
struct ShiftTables {
  alignas(64) uint8_t idx[5][64];
  constexpr ShiftTables() : idx{} {
    for (int l = 0; l < 5; ++l)
      for (int i = 0; i < 64; ++i) idx[l][i] = static_cast<uint8_t>((i - (1 << l)) & 127);
  }
};
alignas(64) constexpr ShiftTables kShift{};

// 64 bytes at a time for F families (one table), TOP chain levels: each byte's class bits, then
// per family one bit "run byte" (value byte or joiner, a superset of every run), and for all
// families at once runs of 2, 4, 8, 16 run bytes ending at each byte (S_2k = S_k AND itself k
// bytes earlier, the block before carried in by a two-source byte permute); families of long
// minimums test aligned 16-byte lanes instead (groups_). A family's block is read (readBlock)
// only if a run of its level ends in it, or a run open at the end of a block it read goes on, or
// (first block) the run the piece starts inside can reach the minimum. No state is kept between
// such blocks: the state at a block that must be read, and at the end of the piece, is rebuilt
// from the masks (rebuild).
template <size_t F, int TOP>
GG_RUNS_TARGET void RunSet::scanGroup(const Piece& p, size_t g) const {
  __m512i tab[4];
  loadTable(lut_[g], tab);
  const size_t blocks = (p.len + 63) / 64;
  const uint32_t f0 = static_cast<uint32_t>(4 * g);
  constexpr uint64_t kOnes16 = 0x0001000100010001ull, kHigh16 = 0x8000800080008000ull;
  const Group& grp = groups_[g];
  const uint8_t* levelBits = grp.level_bits;
  const uint8_t alignedBits = grp.aligned_bits;
  size_t known[F];
  uint32_t force = 0;  // families whose next block must be read
  // The first block: a run carried in from the piece before, with the run bytes the block starts
  // with, may reach the minimum.
  uint64_t valid0 = 0;
  size_t n0 = 0;
  const __m512i first = p.len ? blockClasses(tab, p.data, p.len, 0, valid0, n0) : _mm512_setzero_si512();
  for (size_t i = 0; i < F; ++i) {
    known[i] = 0;
    const RunState& s = p.st[f0 + i];
    if (!(s.last_w | s.pend_j)) continue;
    const uint64_t T = _mm512_test_epi8_mask(first, _mm512_set1_epi8(static_cast<char>(3u << (2 * i)))) & valid0;
    if (s.len + s.pend_j + _tzcnt_u64(~T) >= families_[f0 + i].min) force |= 1u << i;
  }
  const __m512i evenBits = _mm512_set1_epi8(0x55), alignedV = _mm512_set1_epi8(static_cast<char>(alignedBits));
  __m512i lv[5], prev[4], cur[5];
  for (int l = 0; l < 5; ++l) lv[l] = _mm512_set1_epi8(static_cast<char>(levelBits[l]));
  for (auto& v : prev) v = _mm512_setzero_si512();
  for (size_t b = 0; b < blocks; ++b) {
    uint64_t valid = 0;
    size_t n = 0;
    const __m512i cls = blockClasses(tab, p.data, p.len, b, valid, n);
    // Level 0: bit 2i = run byte (value byte or joiner) of family i; odd bits clear.
    cur[0] = _mm512_maskz_mov_epi8(valid, _mm512_and_si512(_mm512_or_si512(cls, _mm512_srli_epi16(cls, 1)), evenBits));
    uint64_t any = levelBits[0] ? _mm512_test_epi8_mask(cur[0], lv[0]) : 0;
#pragma GCC unroll 4
    for (int l = 1; l <= TOP; ++l) {
      const __m512i earlier = _mm512_permutex2var_epi8(cur[l - 1], _mm512_load_si512(kShift.idx[l - 1]), prev[l - 1]);
      prev[l - 1] = cur[l - 1];
      cur[l] = _mm512_and_si512(cur[l - 1], earlier);
      if (levelBits[l]) any |= _mm512_test_epi8_mask(cur[l], lv[l]);
    }
    if (alignedBits) {  // the aligned families together: a superset of each one's runs
      const uint64_t T = _mm512_test_epi8_mask(cur[0], alignedV);
      any |= (~T - kOnes16) & T & kHigh16;
    }
    if (__builtin_expect(any != 0 || force != 0, 0)) {
      uint32_t read = force;
      force = 0;
      for (size_t i = 0; i < F && any; ++i) {
        const __m512i bit = _mm512_set1_epi8(static_cast<char>(1u << (2 * i)));
        uint64_t hit;
        if (const int level = families_[f0 + i].level; level >= 0) {
          hit = _mm512_test_epi8_mask(cur[level], bit);
        } else {
          const uint64_t T = _mm512_test_epi8_mask(cur[0], bit);
          hit = (~T - kOnes16) & T & kHigh16;
        }
        if (hit) read |= 1u << i;
      }
      for (size_t i = 0; i < F; ++i)
        if ((read & (1u << i)) && readBlock(p, f0 + static_cast<uint32_t>(i), b, known[i])) force |= 1u << i;
    }
  }
  // The state at the piece's end: from the last block's masks when a run breaks in it (the
  // usual case), else walking back (rebuild).
  uint64_t valid = 0;
  size_t n = 0;
  const __m512i last = blocks ? blockClasses(tab, p.data, p.len, blocks - 1, valid, n) : _mm512_setzero_si512();
  for (size_t i = 0; i < F; ++i) {
    const uint32_t f = f0 + static_cast<uint32_t>(i);
    if (!blocks || known[i] == blocks) continue;  // read to the end: st is exact
    const uint64_t T = _mm512_test_epi8_mask(last, _mm512_set1_epi8(static_cast<char>(3u << (2 * i)))) & valid;
    if (T != valid) {
      RunState s{};
      advance(s, T, _mm512_test_epi8_mask(last, _mm512_set1_epi8(static_cast<char>(1u << (2 * i)))) & valid, n);
      p.st[f] = s;
    } else {
      p.st[f] = rebuild(p, f, blocks, known[i]);
    }
  }
}

void RunSet::scanBlocks(RunState* st, const uint8_t* data, size_t len, uint64_t base, std::vector<RunEnd>& out) const {
  const Piece p{st, data, len, base, &out};
  // One instance per families in the group (1-4) and chain levels it needs (0-4), so that the
  // block loop keeps everything in registers.
  using Fn = void (RunSet::*)(const Piece&, size_t) const;
  static constexpr Fn kScan[4][5] = {{&RunSet::scanGroup<1, 0>, &RunSet::scanGroup<1, 1>, &RunSet::scanGroup<1, 2>,
                                      &RunSet::scanGroup<1, 3>, &RunSet::scanGroup<1, 4>},
                                     {&RunSet::scanGroup<2, 0>, &RunSet::scanGroup<2, 1>, &RunSet::scanGroup<2, 2>,
                                      &RunSet::scanGroup<2, 3>, &RunSet::scanGroup<2, 4>},
                                     {&RunSet::scanGroup<3, 0>, &RunSet::scanGroup<3, 1>, &RunSet::scanGroup<3, 2>,
                                      &RunSet::scanGroup<3, 3>, &RunSet::scanGroup<3, 4>},
                                     {&RunSet::scanGroup<4, 0>, &RunSet::scanGroup<4, 1>, &RunSet::scanGroup<4, 2>,
                                      &RunSet::scanGroup<4, 3>, &RunSet::scanGroup<4, 4>}};
  for (size_t g = 0; g < lut_.size(); ++g)
    (this->*kScan[std::min<size_t>(4, families_.size() - 4 * g) - 1][groups_[g].top])(p, g);
}

}  // namespace goldgate::datapolicy

// Run detectors: values that are one run of a byte set, with single joiner bytes allowed between
// them ("4556 7375 8689 9855", "GB82 WEST 1234 5698 7654 32", a 40-character token). A pattern
// like `\d[\d -]{7,22}\d\b` costs a finite automaton a step at every byte and is the dearest
// thing Hyperscan runs over text; a run is found instead 64 bytes at a time from byte-class
// masks (AVX-512 VBMI), and an exact byte machine reads only the blocks in which a run can reach
// its minimum length. What it reports is what the machine reading every byte reports
// (RunSet::scanScalar: the reference the tests compare against, and the path on CPUs without
// AVX-512 VBMI).
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::datapolicy {

using ByteSet = std::bitset<256>;

/// Parses a character-class body as in a regex bracket: single bytes, ranges `a-z`, `\d`, `\w`,
/// `\s`, `\xHH`, and escapes (`\-`, `\\`, `\]`, `\t`, `\n`, `\r`). A '-' first or last is itself.
/// Errors: an empty set, a reversed range, an unknown or unfinished escape.
Result<ByteSet> parseByteSet(std::string_view s);

struct RunSpec {
  ByteSet bytes;            // what a value consists of
  ByteSet joiners;          // allowed one at a time between two value bytes (none: empty)
  uint32_t min_length = 1;  // 1..64, joiners counted
  bool operator==(const RunSpec& o) const {
    return bytes == o.bytes && joiners == o.joiners && min_length == o.min_length;
  }
};

/// Per flow direction and family (kinds with the same bytes and joiners): 4 bytes.
struct RunState {
  uint16_t len = 0;    // bytes in the current run (value bytes and the joiners between them)
  uint8_t last_w = 0;  // the last byte read was a value byte
  uint8_t pend_j = 0;  // the last byte read was a joiner after a value byte
};

/// (kind, stream offset just past the last value byte of a group): each place where a run of the
/// kind, at least min_length long, has a group of value bytes end. Reported when the byte after
/// it has been read (or at the stream's end), in stream order per kind.
using RunEnd = std::pair<uint32_t, uint64_t>;

class RunSet {
 public:
  /// Errors: a joiner that is also a value byte, a min_length outside 1..64, NUL in a set.
  static Result<RunSet> build(std::vector<RunSpec> kinds);
  RunSet() = default;

  size_t size() const { return kinds_.size(); }
  bool empty() const { return kinds_.empty(); }
  const RunSpec& kind(size_t k) const { return kinds_[k]; }
  /// RunStates a direction needs (one per family of kinds sharing bytes and joiners).
  size_t states() const { return families_.size(); }

  /// Reads the next `len` bytes of a direction (`base` is the stream offset of data[0]); `st`
  /// holds states() states. The ends found are appended to `out`.
  void scan(RunState* st, const uint8_t* data, size_t len, uint64_t base, std::vector<RunEnd>& out) const;
  /// The same, reading every byte (no SIMD filter): the reference, and the fallback on CPUs
  /// without AVX-512BW/VBMI.
  void scanScalar(RunState* st, const uint8_t* data, size_t len, uint64_t base, std::vector<RunEnd>& out) const;
  /// The direction ended at `end`: a run that ends there is reported.
  void finish(RunState* st, uint64_t end, std::vector<RunEnd>& out) const;
  /// scan() takes the byte machine whatever the CPU (tests of the fallback).
  void forceScalar() { simd_ = false; }
  bool simd() const { return simd_; }

 private:
  struct Family {
    std::vector<std::pair<uint32_t, uint32_t>> kinds;  // (kind, min_length), shortest first
    uint32_t min = 0;                                  // the shortest
    int8_t level = 0;  // scanGroup tests runs of 2^level bytes; -1: aligned 16-byte lanes
  };
  struct Group {                 // four families sharing a table
    uint8_t level_bits[5] = {};  // per level: its families' run bits
    uint8_t aligned_bits = 0;    // families tested by aligned lanes
    uint8_t top = 0;             // the highest level any of them needs
  };
  void step(uint32_t f, RunState& s, uint8_t cls, uint64_t at, std::vector<RunEnd>& out) const;
  struct Piece {
    RunState* st;
    const uint8_t* data;
    size_t len;
    uint64_t base;
    std::vector<RunEnd>* out;
  };
  static void advance(RunState& s, uint64_t T, uint64_t W, size_t n);
  RunState rebuild(const Piece& p, uint32_t f, size_t to, size_t known) const;
  bool readBlock(const Piece& p, uint32_t f, size_t b, size_t& known) const;
  template <size_t F, int TOP>
  void scanGroup(const Piece& p, size_t g) const;
  void scanBlocks(RunState* st, const uint8_t* data, size_t len, uint64_t base, std::vector<RunEnd>& out) const;

  std::vector<RunSpec> kinds_;
  std::vector<Family> families_;
  // Per group of four families: a byte's class bits (bit 2f: value byte of family f, 2f+1: joiner).
  std::vector<std::array<uint8_t, 256>> lut_;
  std::vector<Group> groups_;
  bool simd_ = false;
};

}  // namespace goldgate::datapolicy

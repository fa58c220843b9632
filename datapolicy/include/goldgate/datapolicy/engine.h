// The classification engine: every data class compiled into one Hyperscan streaming database
// (cached on disk, keyed by the content hash of what it is compiled from), and per-thread scanners
// that carry one small stream state per flow direction, so a value split across segments is found.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "goldgate/common/result.h"
#include "goldgate/datapolicy/classes.h"
#include "goldgate/datapolicy/runs.h"

struct hs_database;
struct hs_scratch;
struct hs_stream;

namespace goldgate::datapolicy {

/// A class found in one flow direction's byte stream.
struct Finding {
  uint32_t class_index = 0;
  uint64_t offset = 0;  // end of the value in the direction's byte stream (bytes before it + its length)
  double confidence = 0;
  std::string masked;  // never the clear value
  uint64_t count = 0;  // findings of this class in this direction so far (this one included)
};

struct BuildOptions {
  std::string cache_dir;  // empty: no cache
  // Run detectors read every byte, as on a CPU without AVX-512 VBMI (the same findings, slower):
  // for tests that hold the fast path to the fallback.
  bool scalar_runs = false;
};

/// Compiled, immutable; shared by every scanner (and swapped whole on reload).
class Classifier {
 public:
  /// Compiles (or loads from the cache) the database for `classes`. Errors: "file:line: reason"
  /// for a pattern Hyperscan refuses; unreadable exact-match files.
  static Result<std::shared_ptr<const Classifier>> build(std::vector<DataClass> classes, const BuildOptions& opts = {});
  ~Classifier();

  const std::vector<DataClass>& classes() const { return classes_; }
  /// Bytes of Hyperscan stream state per flow direction.
  size_t hsStreamBytes() const { return stream_bytes_; }
  /// All the state one flow direction carries while scanned: Hyperscan's stream, the scanner's
  /// own (counters per class, the byte history values are read back from), excluding reassembly.
  size_t streamStateBytes() const;
  /// Whether the database came from the cache (no compile).
  bool fromCache() const { return from_cache_; }
  double compileSeconds() const { return compile_seconds_; }
  const std::string& databaseKey() const { return key_; }

  /// Literals the scanner looks for in the bytes kept around a value, lower-cased (the engine's
  /// own working form of a class's keywords).
  struct KeywordSet {
    std::vector<std::string> lower;
    std::array<uint64_t, 256> first = {};  // per lower-cased byte: the keywords starting with it (bit i: lower[i])
    uint32_t longest = 0;
  };

 private:
  friend class Scanner;
  Classifier() = default;
  std::vector<DataClass> classes_;
  hs_database* db_ = nullptr;
  size_t stream_bytes_ = 0;
  bool from_cache_ = false;
  double compile_seconds_ = 0;
  std::string key_;
  uint32_t history_ = 0;                                // bytes kept per direction for extraction
  std::vector<std::unordered_set<std::string>> exact_;  // per class: truncated HMACs of known values
  std::vector<std::string> exact_keys_;                 // per class: HMAC key
  std::vector<KeywordSet> keywords_;                    // per class: its context keywords (`first` only for up to 64)
  std::vector<KeywordSet> negatives_;                   // per class: its negative keywords
  // Per class: whether its keywords are looked for only around a value, in the bytes the stream
  // keeps (a window that fits them); the others' keywords stream through Hyperscan.
  std::vector<uint8_t> keyword_near_;
  std::vector<std::vector<uint32_t>> explainers_;  // per class: its explained_by, as class indices
  std::vector<uint8_t> token_kind_;                // per class: which bytes its values read back
  std::array<uint32_t, 8> read_back_ = {};         // per token kind: the longest max_length
  bool streamed_keywords_ = false;                 // any class streams its keywords
  std::vector<std::vector<uint32_t>> groups_;      // per detector id: the classes it serves
  RunSet runs_;                                    // run detectors (runs.h)
  std::vector<uint32_t> run_ids_;                  // per run kind: its detector id
};

/// Per-direction state, owned by whoever tracks the flow; opened and closed through a Scanner.
struct StreamState {
  const Classifier* cls = nullptr;  // the database the stream belongs to (kept alive by the owner)
  hs_stream* hs = nullptr;
  uint64_t offset = 0;
  uint64_t hs_base = 0;  // stream offset where the Hyperscan stream began (a new one after a gap)
  std::string history;   // last bytes scanned (up to the classifier's history size)
  struct PerClass {
    // Findings of the class in this direction (saturating), and valid values dropped for a
    // negative keyword before them (counted up to one past the limit): one word between them.
    uint32_t count : 25 = 0;
    uint32_t negated : 7 = 0;
    uint32_t last_end = UINT32_MAX;  // low 32 bits of the last value end (dedup across patterns)
  };
  std::vector<PerClass> classes;
  std::vector<uint64_t> last_keyword;  // per class, if any streams its keywords: end of the last one
  std::vector<RunState> runs;          // per run kind
  struct Pending {                     // a value waiting to see whether a context keyword follows
    uint32_t cls;
    uint64_t start, end;
    uint64_t until;      // decided without a keyword once the stream has passed this offset
    uint8_t explainers;  // bit i: the value validates as the class's explained_by[i] too
    std::string masked;
  };
  std::vector<Pending> pending;
  // Match ends waiting for the two bytes after them (is the value complete, or does its run go on?).
  std::vector<std::pair<uint32_t, uint64_t>> await;  // (Hyperscan id, match end)
  std::vector<Finding> held;                         // below the class's min_count so far
  bool gap = false;
  bool open = false;  // between Scanner::open and close
};

/// Scans streams with one Hyperscan scratch: one Scanner per thread.
class Scanner {
 public:
  /// Errors: scratch allocation failed.
  static Result<std::unique_ptr<Scanner>> create(std::shared_ptr<const Classifier> c);
  ~Scanner();

  /// Lets this scanner's scratch serve `c` too (a reloaded database), so streams opened on the
  /// old and the new database can both be scanned. Errors: allocation failed.
  Result<void> adopt(const Classifier& c);
  /// Opens a stream on `c` (default: the classifier the scanner was created with; `c` must have
  /// been adopted and must outlive the stream).
  void open(StreamState& s, const Classifier* c = nullptr);
  /// Scans the next in-order bytes of the direction; findings are appended to `out`.
  void scan(StreamState& s, const uint8_t* data, size_t len, std::vector<Finding>& out);
  /// Marks bytes that will never be seen (a gap): the stream restarts after it, and values
  /// cannot be matched across it.
  void skip(StreamState& s, uint64_t bytes, std::vector<Finding>& out);
  /// Ends the direction: end-anchored matches and pending values are reported.
  void close(StreamState& s, std::vector<Finding>& out);
  /// Whether the bytes scanned so far end in something that the stream's end would complete: a
  /// run of value bytes still open, a match waiting for the bytes after it, a value waiting for
  /// context. False: ending the stream here reports nothing that scanning on would not.
  static bool mayComplete(const StreamState& s);
  /// What close() would report if the direction ended after the bytes scanned so far, leaving
  /// `s` as it is (a copy of the stream is closed). An inline caller uses it to decide on the
  /// packet that completes a value instead of the one after it.
  void probe(const StreamState& s, std::vector<Finding>& out);
  const Classifier& classifier() const { return *cls_; }

 private:
  Scanner() = default;
  struct Ctx;
  static int onMatch(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void* ctx);
  void candidate(Ctx& ctx, uint32_t cls, uint64_t to);
  std::string_view readBack(Ctx& ctx, uint64_t to, uint8_t kind);
  void processAwait(Ctx& ctx, bool final);
  void keyword(Ctx& ctx, uint32_t cls, uint64_t to);
  // kNegative: dropped for a negative keyword (counted: past kNegativeLimit a direction, reported).
  enum class Verdict { kNone, kContext, kDrop, kNegative };
  Verdict judge(const Ctx& ctx, uint32_t cls, uint64_t start, uint64_t end, uint8_t explainers);
  void decide(Ctx& ctx, uint32_t cls, std::string_view value, uint64_t start, uint64_t end);
  void contextAfter(Ctx& ctx);
  void endRuns(Ctx& ctx);
  void awaitRunEnds(StreamState& s);
  void emit(StreamState& s, uint32_t cls, uint64_t end, double confidence, std::string masked,
            std::vector<Finding>& out);
  void resolvePending(StreamState& s, uint64_t upTo, std::vector<Finding>& out, bool all);
  void scanPiece(StreamState& s, const uint8_t* data, size_t len, std::vector<Finding>& out);
  std::shared_ptr<const Classifier> cls_;
  hs_scratch* scratch_ = nullptr;
  std::vector<RunEnd> runEnds_;  // reused per piece
  std::string readBack_;         // a value's bytes when they reach back into the kept history
  std::string hay_;              // the lower-cased bytes around a value (judge)
  // Hyperscan's AVX-512 literal matcher may load up to a vector past the end of its input; the
  // tail of a chunk that ends just before an unmapped page is scanned from this padded copy.
  static constexpr size_t kOverread = 64;
  alignas(64) uint8_t tail_[4 * kOverread] = {};
};

/// The exact-match hash of a normalised value: the first 16 bytes of HMAC-SHA-256 under `key`.
std::string exactMatchHash(const std::string& key, const std::string& normalised);

}  // namespace goldgate::datapolicy

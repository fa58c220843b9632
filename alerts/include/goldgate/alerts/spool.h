// A sink's bounded on-disk spool: every event a sink is to deliver is appended here first and
// leaves only when the sink confirms it, so events survive an unreachable SIEM and a daemon
// restart (at-least-once). When the bound is reached, the oldest events of the lowest severity
// present are dropped first, and the caller is told how many so the drop can be reported.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::alerts {

/// File layout (`DIR/spool`): records of [u32 payload length][u8 severity][u64 sequence]
/// [u32 FNV-1a of payload][payload], little-endian. `DIR/cursor` holds the file offset of the first
/// unconfirmed record (written with rename, so it is never torn). A torn record at the end of the
/// file (a crash mid-write) is cut off on open and counted in `tornOnOpen()`, and so is what follows
/// a record whose sequence does not grow or reaches 2^62; records numbered above 2^61 on open (only
/// damage numbers them so) are numbered afresh from 1.
/// Thread-safe: one producer (the alert owner thread) and one consumer (the sink's sender).
class Spool {
 public:
  struct Record {
    uint64_t seq = 0;
    uint8_t severity = 0;
    std::string payload;
  };

  /// Opens or creates the spool in `dir` (created if missing), loading unconfirmed records.
  /// Errors: the folder or files cannot be created or read.
  static Result<std::unique_ptr<Spool>> open(const std::string& dir, uint64_t maxBytes);
  ~Spool();

  /// Appends a record. Returns how many older records were dropped to stay within the bound
  /// (lowest severity first, oldest first within it). A record larger than the bound on its own
  /// is dropped itself (counted in the return value). Errors: the write failed (the record is
  /// kept in memory and retried on the next append, so nothing is lost while the process lives).
  Result<uint64_t> append(std::string payload, uint8_t severity);

  /// Copies up to `max` records with sequence > `afterSeq`, in order, into `out`.
  void peek(uint64_t afterSeq, size_t max, std::vector<Record>& out) const;
  /// Confirms every record with sequence <= `seq`: they leave the spool for good. Returns how many.
  uint64_t confirm(uint64_t seq);

  uint64_t backlogEvents() const;
  uint64_t backlogBytes() const;
  uint64_t dropped() const;
  uint64_t tornOnOpen() const { return torn_on_open_; }
  /// Whether open() numbered the records afresh (their sequences had come near the limit: only a
  /// damaged file's do). Nothing has read a sequence before open, so this is safe; a test that
  /// holds sequences across a reopen checks it.
  bool renumberedOnOpen() const { return renumbered_on_open_; }
  /// Sequence of the last record appended (0 if none ever).
  uint64_t lastSeq() const;
  const std::string& dir() const { return dir_; }

 private:
  Spool() = default;
  struct Entry {
    Record rec;
    uint64_t end_offset;  // file offset just past this record
  };
  Result<void> load();
  Result<void> rewrite();  // the file becomes exactly the entries in memory (after a drop)
  Result<void> writeCursor(uint64_t offset);
  static std::string encode(const Record& r);
  uint64_t shedLocked(uint64_t need);

  mutable std::mutex mu_;
  std::string dir_;
  int fd_ = -1;
  uint64_t max_bytes_ = 0;
  uint64_t file_size_ = 0;
  uint64_t cursor_ = 0;
  uint64_t bytes_ = 0;  // payload + header bytes of entries in memory
  uint64_t next_seq_ = 1;
  uint64_t dropped_ = 0;
  uint64_t torn_on_open_ = 0;
  bool renumbered_on_open_ = false;
  bool dirty_ = false;  // the file lags memory (a failed write): rewrite on the next append
  std::deque<Entry> entries_;
};

}  // namespace goldgate::alerts

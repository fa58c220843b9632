// TCP stream reassembly for inspection, one flow direction: in-order bytes are delivered once
// (retransmitted bytes are trimmed, never counted twice), out-of-order segments are held within a
// bound until the gap before them is filled, and a gap that can never be filled is reported as
// such (so the caller can fail closed or carry on and say so), never skipped silently.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace goldgate::datapolicy {

/// Bounds on what one direction holds while waiting for a hole to fill.
struct ReassemblyLimits {
  uint32_t max_held_bytes = 256 * 1024;  // out-of-order bytes held for this direction
  uint32_t max_held_segments = 256;
};

class TcpReassembler {
 public:
  using Limits = ReassemblyLimits;
  /// What the reassembler hands on: in-order bytes, or the size of a hole given up on.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void bytes(const uint8_t* data, size_t len) = 0;
    virtual void gap(uint64_t len) = 0;
  };

  explicit TcpReassembler(Limits limits = {}) : limits_(limits) {}

  /// One segment: `seq` is the sequence number of its first byte (of the SYN, if `syn`).
  void segment(uint32_t seq, bool syn, const uint8_t* data, size_t len, Sink& sink);
  /// The direction ended (FIN, RST, or end of capture): whatever is held is delivered, with the
  /// holes before it reported as gaps.
  void finish(Sink& sink);

  /// Whether a segment at `seq` of `len` bytes would have to be held (it starts past the next
  /// in-order byte) and would take this direction past its limits, or past `room` more bytes held
  /// in all (the caller's own bound). An inline caller drops such a segment (the sender sends it
  /// again) instead of giving up a hole.
  bool wouldOverflow(uint32_t seq, size_t len, uint64_t room) const;
  /// Whether `data` at `seq` overlaps bytes already held with different content: two versions of
  /// the same stream bytes, which receivers resolve differently (an evasion attempt).
  bool conflicts(uint32_t seq, const uint8_t* data, size_t len) const;
  /// The sequence number of the next in-order byte, once started (a SYN or the first data seen).
  uint32_t nextSeq() const { return next_seq_; }
  bool started() const { return started_; }

  uint64_t delivered() const { return next_abs_; }
  uint64_t retransmittedBytes() const { return retransmitted_; }
  uint64_t gapBytes() const { return gap_bytes_; }
  uint64_t heldBytes() const { return held_bytes_; }

 private:
  void drain(Sink& sink);
  void giveUpOldestGap(Sink& sink);

  Limits limits_;
  bool started_ = false;
  uint32_t next_seq_ = 0;                 // sequence number of the next in-order byte
  uint64_t next_abs_ = 0;                 // its position in the direction's byte stream
  std::map<uint64_t, std::string> held_;  // out-of-order data by stream position
  uint64_t held_bytes_ = 0;
  uint64_t retransmitted_ = 0;
  uint64_t gap_bytes_ = 0;
};

}  // namespace goldgate::datapolicy

// The TCP normaliser: in front of inspection, it decides for each segment of an inspected
// connection what the receiving TCP stack would do with it, so that the byte stream the switch
// inspects is the byte stream the receiver assembles. Segments the receiver would discard (out of
// its window, acknowledging data never sent, PAWS-old, without ACK, a second SYN with another
// ISN, data past a FIN) are dropped by the switch too and never reach reassembly; a RST or FIN
// ends a direction only where the receiver would take it. Checksums are verified before this
// runs (the worker; packet.h's checksum helpers), so a segment with a bad checksum never changes
// any state here.
//
// Works on parsed header fields only (no DPDK), so the worker, goldgatectl classify and the fuzzer
// run the same code. Modelled on Linux's receive path (tcp_validate_incoming, tcp_sequence,
// tcp_ack, tcp_paws_discard, tcp_parse_options); see dataplane/README.md "TCP normaliser".
#pragma once

#include <cstddef>
#include <cstdint>

#include "goldgate/dataplane/packet.h"

namespace goldgate::dataplane {

constexpr uint8_t kTcpUrg = 0x20;

/// The TCP header fields the normaliser reads.
struct TcpSegment {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;    // TcpFlags, kTcpUrg
  uint16_t window = 0;  // as sent (not scaled)
  uint32_t payload_len = 0;
  bool has_ts = false;  // a well-formed timestamp option (kind 8, length 10)
  uint32_t tsval = 0;
  int8_t wscale = -1;  // window scale option on a SYN (clamped to 14), -1 none
};

/// Reads the TCP header at `tcp` (`hdrLen` bytes: the data offset, already checked by the parser)
/// into `s`, options parsed as Linux parses them (parsing stops at a malformed option; an option
/// of the wrong length is ignored). `payloadLen` is the L4 payload length from the IP header.
void parseTcpSegment(const uint8_t* tcp, size_t hdrLen, size_t payloadLen, TcpSegment* s);

/// Per-connection normaliser state for both directions (index 0: the originator's).
class TcpNormalizer {
 public:
  /// What one segment does.
  struct Decision {
    DropReason drop = DropReason::kNone;  // not kNone: drop the segment (it changed nothing)
    bool deliver = false;                 // its payload goes to reassembly (false: nothing in it for the receiver)
    bool reset = false;                   // an acceptable RST: the connection ends in both directions
  };

  /// Judges segment `s` from direction `dir` (0 originator). `rcvNxt` is the next in-order
  /// sequence number of that direction's reassembled stream and `started` whether it has one yet.
  /// Updates the state only when the segment is accepted.
  Decision segment(int dir, const TcpSegment& s, bool started, uint32_t rcvNxt);

  /// True when direction `dir` has sent a FIN that the in-order stream has reached (`rcvNxt`):
  /// nothing more can be delivered in it.
  bool finished(int dir, uint32_t rcvNxt) const { return (d_[dir].bits & kFin) && d_[dir].fin_seq == rcvNxt; }
  /// Whether the handshake was seen (false: the connection was picked up mid-stream, after it
  /// had begun: the window is learnt from its first segments).
  bool fromHandshake() const { return (d_[0].bits & kSyn) && !(d_[0].bits & kMidstream); }

 private:
  enum Bits : uint8_t { kSyn = 1, kAck = 2, kTs = 4, kWs = 8, kFin = 16, kMidstream = 32, kTsSeen = 64 };
  struct Dir {
    uint32_t isn = 0;         // sequence number of its SYN
    uint32_t snd_nxt = 0;     // past the highest sequence number it has sent
    uint32_t ack_max = 0;     // the highest acknowledgement it has sent
    uint32_t right_edge = 0;  // the right edge of the window it advertised (ack + scaled window)
    uint32_t max_win = 0;     // the largest (scaled) window it advertised
    uint32_t ts_recent = 0;   // its latest timestamp value the receiver would keep
    uint32_t fin_seq = 0;     // the sequence number of its FIN
    uint8_t wscale = 0;       // the window scale it announced
    uint8_t bits = 0;
  };
  void learnAckWindow(Dir& d, const TcpSegment& s, bool inSyn);

  Dir d_[2];
  bool ts_ok_ = false;  // both SYNs carried timestamps
  bool ws_ok_ = false;  // both SYNs carried window scale
};

}  // namespace goldgate::dataplane

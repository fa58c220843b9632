#include "goldgate/dataplane/tcp_normalizer.h"

#include <algorithm>

#include "goldgate/common/endian.h"

namespace goldgate::dataplane {
namespace {

// Sequence-space comparisons (RFC 793 modulo 2^32), as Linux's before() / after().
inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool after(uint32_t a, uint32_t b) { return before(b, a); }

}  // namespace

void parseTcpSegment(const uint8_t* tcp, size_t hdrLen, size_t payloadLen, TcpSegment* s) {
  s->seq = loadBe32(tcp + 4);
  s->ack = loadBe32(tcp + 8);
  s->flags = tcp[13];
  s->window = loadBe16(tcp + 14);
  s->payload_len = static_cast<uint32_t>(payloadLen);
  s->has_ts = false;
  s->wscale = -1;
  // As tcp_parse_options: EOL ends the list, a malformed length stops parsing (what follows is not
  // read by the receiver either), an option of the wrong size is skipped.
  const uint8_t* p = tcp + 20;
  size_t left = hdrLen > 20 ? hdrLen - 20 : 0;
  while (left > 0) {
    const uint8_t kind = *p;
    if (kind == 0) return;
    if (kind == 1) {
      ++p, --left;
      continue;
    }
    if (left < 2) return;
    const uint8_t size = p[1];
    if (size < 2 || size > left) return;
    if (kind == 3 && size == 3 && (s->flags & kTcpSyn)) s->wscale = static_cast<int8_t>(std::min<uint8_t>(p[2], 14));
    if (kind == 8 && size == 10) {
      s->has_ts = true;
      s->tsval = loadBe32(p + 2);
    }
    p += size, left -= size;
  }
}

void TcpNormalizer::learnAckWindow(Dir& d, const TcpSegment& s, bool inSyn) {
  if (!(s.flags & kTcpAck)) return;
  // Windows on SYNs are never scaled; a connection picked up mid-stream assumes the largest scale
  // (its SYNs were not seen), so the window it checks against is never smaller than the receiver's.
  const unsigned shift = inSyn ? 0 : (d.bits & kMidstream) ? 14 : ws_ok_ ? d.wscale : 0;
  const uint32_t win = static_cast<uint32_t>(s.window) << shift;
  const uint32_t edge = s.ack + win;
  if (!(d.bits & kAck) || after(s.ack, d.ack_max)) d.ack_max = s.ack;
  // The receiver never moves its right edge back (RFC 7323 2.4: the window does not shrink).
  if (!(d.bits & kAck) || after(edge, d.right_edge)) d.right_edge = edge;
  d.max_win = std::max(d.max_win, win);
  d.bits |= kAck;
}

TcpNormalizer::Decision TcpNormalizer::segment(int dir, const TcpSegment& s, bool started, uint32_t rcvNxt) {
  Decision r;
  Dir& d = d_[dir];
  Dir& p = d_[dir ^ 1];  // the receiver's side: its window and what it has sent
  const bool syn = s.flags & kTcpSyn, ack = s.flags & kTcpAck, rst = s.flags & kTcpRst, fin = s.flags & kTcpFin;
  auto refuse = [&r](DropReason why) {
    r.drop = why;
    return r;
  };

  if (syn) {
    // SYN+RST and SYN+FIN are discarded by a listener (and open nothing here).
    if (rst || fin) return refuse(DropReason::kTcpBadFlags);
    // Data on a SYN is not delivered by a receiver without a Fast Open cookie, and a sender
    // would send it again after the handshake: two views of the same bytes.
    if (s.payload_len) return refuse(DropReason::kTcpSynData);
    if (d.bits & kSyn) {
      // Again: the same ISN is a retransmission; another ISN would move where the stream starts.
      if (s.seq != d.isn && !(d.bits & kMidstream)) return refuse(DropReason::kTcpSynIsn);
      if (dir == 1 && !(p.bits & kMidstream) && (!ack || s.ack != p.isn + 1)) return refuse(DropReason::kTcpBadAck);
      return r;
    }
    if (dir == 1 && (p.bits & kSyn) && !(p.bits & kMidstream) && (!ack || s.ack != p.isn + 1))
      return refuse(DropReason::kTcpBadAck);  // a SYN-ACK for another SYN: its receiver resets it
    d.isn = s.seq;
    d.snd_nxt = s.seq + 1;
    d.bits |= kSyn;
    if (s.has_ts) {
      d.bits |= kTs | kTsSeen;
      d.ts_recent = s.tsval;
    }
    if (s.wscale >= 0) {
      d.bits |= kWs;
      d.wscale = static_cast<uint8_t>(s.wscale);
    }
    if (dir == 1) {
      ts_ok_ = (d.bits & kTs) && (p.bits & kTs);
      ws_ok_ = (d.bits & kWs) && (p.bits & kWs);
      learnAckWindow(d, s, true);
    }
    return r;
  }

  if (rst) {
    // RFC 5961 3.2, as Linux: a RST resets only at exactly the next expected sequence number; in
    // the window it draws a challenge ACK and changes nothing; outside it, it is discarded.
    if (!(d.bits & kSyn)) {
      // The responder refusing the SYN: acceptable when it acknowledges that SYN.
      if (dir == 1 && (p.bits & kSyn) && ack && s.ack == p.snd_nxt) r.reset = true;
      else if (!(p.bits & kSyn) || (p.bits & kMidstream)) r.reset = true;  // nothing known of this side
      else return refuse(DropReason::kTcpRstInvalid);
      return r;
    }
    const uint32_t next = started ? rcvNxt : d.snd_nxt;
    if (s.seq == next || ((d.bits & kFin) && s.seq == next + 1)) {
      r.reset = true;
      return r;
    }
    if ((p.bits & kAck) && !before(s.seq, p.ack_max) && before(s.seq, p.right_edge)) return r;  // challenge ACK
    return refuse(DropReason::kTcpRstInvalid);
  }

  if (!(d.bits & kSyn)) {
    // The connection began before it was inspected: learnt from its first segments on.
    d.bits |= kSyn | kMidstream;
    d.isn = s.seq - 1;
    d.snd_nxt = s.seq;
  }
  const bool midstream = d.bits & kMidstream;
  // Before the receiver has answered the SYN it takes nothing (a SYN_SENT or SYN_RECV socket
  // discards a segment that does not complete the handshake).
  if (!midstream && (!(p.bits & kSyn) || (!(p.bits & kAck) && s.payload_len)))
    return refuse(DropReason::kTcpNoHandshake);
  if (!ack) return refuse(DropReason::kTcpNoAck);
  if (!midstream) {
    // tcp_ack: acknowledging data never sent, or older than the largest window, is discarded;
    // the first ACK of the originator must acknowledge exactly the SYN-ACK (tcp_check_req).
    if (after(s.ack, p.snd_nxt)) return refuse(DropReason::kTcpBadAck);
    if (!(d.bits & kAck) && s.ack != p.snd_nxt) return refuse(DropReason::kTcpBadAck);
    if ((d.bits & kAck) && before(s.ack, d.ack_max - d.max_win)) return refuse(DropReason::kTcpBadAck);
  }
  // PAWS (RFC 7323 5): a timestamp older than the last one kept is a discarded old duplicate.
  if (ts_ok_ && s.has_ts && (d.bits & kTsSeen) && static_cast<int32_t>(d.ts_recent - s.tsval) > 1)
    return refuse(DropReason::kTcpPaws);

  const uint32_t len = s.payload_len + (fin ? 1u : 0u);
  const uint32_t end = s.seq + len;
  if (p.bits & kAck) {
    // tcp_sequence / tcp_data_queue: data must start before the receiver's right edge (an empty
    // segment may sit on it); a segment wholly before what it has acknowledged carries nothing new.
    if (len ? !before(s.seq, p.right_edge) : after(s.seq, p.right_edge)) return refuse(DropReason::kTcpOutOfWindow);
    if (before(end, p.ack_max) || (len == 0 && before(s.seq, p.ack_max))) return r;  // old: passes, changes nothing
  }
  if (d.bits & kFin) {
    // After its FIN a sender has nothing more: data past it, or a FIN elsewhere, is refused.
    if (fin && s.seq + s.payload_len != d.fin_seq) return refuse(DropReason::kTcpAfterFin);
    if (after(s.seq + s.payload_len, d.fin_seq)) return refuse(DropReason::kTcpAfterFin);
  }

  if (after(end, d.snd_nxt)) d.snd_nxt = end;
  if (fin && !(d.bits & kFin)) {
    d.bits |= kFin;
    d.fin_seq = s.seq + s.payload_len;
  }
  learnAckWindow(d, s, false);
  // The receiver keeps a timestamp from a segment that starts at or before its next expected byte.
  const uint32_t next = started ? rcvNxt : s.seq;
  if (ts_ok_ && s.has_ts && !after(s.seq, next) && (!(d.bits & kTsSeen) || after(s.tsval, d.ts_recent))) {
    d.ts_recent = s.tsval;
    d.bits |= kTsSeen;
  }
  r.deliver = s.payload_len > 0;
  return r;
}

}  // namespace goldgate::dataplane

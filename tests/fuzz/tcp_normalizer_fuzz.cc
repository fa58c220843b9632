// libFuzzer target: the TCP normaliser with reassembly, as the switch runs them (TcpNormalizer,
// then TcpReassembler with its hold bound and overlap check), against a reference receiver that
// assembles the segments the normaliser passed byte by byte. Input: segments of 8 bytes each
// (direction and flags, sequence and ACK offsets from the handshake, length, window, which of two
// contents). Whatever the input, the inspected stream of each direction must be exactly the
// receiver's in-order bytes, unless the switch cut the connection because two versions of the same
// bytes arrived; and a refused segment must reach neither.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "goldgate/dataplane/packet.h"
#include "goldgate/dataplane/tcp_normalizer.h"
#include "goldgate/datapolicy/reassembly.h"

namespace dp = goldgate::dataplane;
using goldgate::datapolicy::ReassemblyLimits;
using goldgate::datapolicy::TcpReassembler;

namespace {

struct Collect : TcpReassembler::Sink {
  std::string got;
  bool gapped = false;
  void bytes(const uint8_t* d, size_t n) override { got.append(reinterpret_cast<const char*>(d), n); }
  void gap(uint64_t) override { gapped = true; }
};

// The byte a sender puts at stream position `pos`: one of two versions.
char content(uint64_t pos, bool alt) { return static_cast<char>((alt ? 'A' : 'a') + pos % 26); }

struct Reference {  // a receiver: first bytes in order win, held bytes kept until the hole fills
  std::map<uint64_t, char> held;
  uint64_t next = 0;
  std::string got;
  void take(uint64_t pos, char b) {
    if (pos < next) return;
    held.emplace(pos, b);
    while (!held.empty() && held.begin()->first == next) {
      got.push_back(held.begin()->second);
      held.erase(held.begin());
      ++next;
    }
  }
  bool differs(uint64_t pos, char b) const {
    auto it = held.find(pos);
    return pos >= next && it != held.end() && it->second != b;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint32_t isn[2] = {1000u + (size > 0 ? data[0] : 0) * 16777216u, 4000000000u};
  dp::TcpNormalizer n;
  TcpReassembler r[2] = {TcpReassembler(ReassemblyLimits{512, 8}), TcpReassembler(ReassemblyLimits{512, 8})};
  Collect sink[2];
  Reference ref[2];
  bool cut = false;
  // The handshake, with window scale 2 both ways.
  dp::TcpSegment syn;
  syn.seq = isn[0], syn.flags = dp::kTcpSyn, syn.wscale = 2, syn.window = 1000;
  if (n.segment(0, syn, false, 0).drop != dp::DropReason::kNone) std::abort();
  r[0].segment(isn[0], true, nullptr, 0, sink[0]);
  dp::TcpSegment sa;
  sa.seq = isn[1], sa.ack = isn[0] + 1, sa.flags = dp::kTcpSyn | dp::kTcpAck, sa.wscale = 2, sa.window = 1000;
  if (n.segment(1, sa, false, 0).drop != dp::DropReason::kNone) std::abort();
  r[1].segment(isn[1], true, nullptr, 0, sink[1]);

  for (size_t i = 1; i + 8 <= size && i < 1 + 8 * 256; i += 8) {
    const uint8_t* p = data + i;
    const int dir = p[0] & 1;
    const bool alt = p[0] & 2;
    const uint8_t flags = p[1];
    const int32_t seqOff = static_cast<int16_t>(p[2] | p[3] << 8) * ((p[0] & 4) ? 4096 : 1);
    const int32_t ackOff = static_cast<int16_t>(p[4] | p[5] << 8);
    const uint32_t len = p[6] % 200;
    dp::TcpSegment s;
    s.seq = isn[dir] + 1 + static_cast<uint32_t>(seqOff);
    s.ack = isn[dir ^ 1] + 1 + static_cast<uint32_t>(ackOff);
    s.flags = flags;
    s.window = static_cast<uint16_t>(p[7] * 64);
    s.payload_len = (flags & dp::kTcpSyn) ? 0 : len;
    s.has_ts = p[0] & 8;
    s.tsval = p[0] >> 4;
    std::string payload(s.payload_len, '\0');
    const uint64_t base = static_cast<uint32_t>(s.seq - (isn[dir] + 1));  // stream position (mod 2^32)
    for (uint32_t k = 0; k < s.payload_len; ++k) payload[k] = content(base + k, alt);
    const auto* pl = reinterpret_cast<const uint8_t*>(payload.data());
    auto d = n.segment(dir, s, r[dir].started(), r[dir].nextSeq());
    if (d.drop != dp::DropReason::kNone || !d.deliver || cut || d.reset) {
      if (d.reset) break;
      continue;
    }
    // Positions the reference can take: within 64 KiB of its next byte (the window keeps real
    // positions close; sequence wrap-around is the normaliser's concern, checked above).
    if (static_cast<int32_t>(s.seq - r[dir].nextSeq()) > 65536 ||
        static_cast<int32_t>(s.seq - r[dir].nextSeq()) < -65536)
      continue;
    if (r[dir].conflicts(s.seq, pl, s.payload_len)) {
      // The switch cuts: the reference must really hold another version of one of these bytes.
      bool differs = false;
      const int64_t rel = static_cast<int32_t>(s.seq - r[dir].nextSeq());
      for (uint32_t k = 0; k < s.payload_len; ++k)
        if (rel + k >= 0) differs |= ref[dir].differs(ref[dir].next + static_cast<uint64_t>(rel + k), payload[k]);
      if (!differs) std::abort();
      cut = true;
      continue;
    }
    if (r[dir].wouldOverflow(s.seq, s.payload_len, 4096)) continue;  // dropped: the sender sends it again
    const int64_t rel = static_cast<int32_t>(s.seq - r[dir].nextSeq());
    const uint64_t refBase = ref[dir].next;
    for (uint32_t k = 0; k < s.payload_len; ++k)
      if (rel + k >= 0) {
        if (ref[dir].differs(refBase + static_cast<uint64_t>(rel + k), payload[k])) std::abort();  // unflagged conflict
        ref[dir].take(refBase + static_cast<uint64_t>(rel + k), payload[k]);
      }
    r[dir].segment(s.seq, false, pl, s.payload_len, sink[dir]);
    if (sink[dir].gapped) std::abort();               // an inline reassembler never skips: it refuses instead
    if (sink[dir].got != ref[dir].got) std::abort();  // the inspected stream is the receiver's
  }
  return 0;
}

// libFuzzer target: the packet parser must never read out of bounds, crash or loop, and what it
// reports must stay inside the frame.
#include <cstdint>
#include <cstdlib>

#include "goldgate/dataplane/conntrack.h"
#include "goldgate/dataplane/packet.h"

using namespace goldgate::dataplane;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return 0;
  PacketMeta m;
  DropReason r = parsePacket(data, static_cast<uint32_t>(size), &m);
  if (r != DropReason::kNone) return 0;
  // Invariants a caller relies on.
  if (m.l3_offset > size) std::abort();
  if ((m.flags & kFlagIp) && (m.l4_offset > size || m.l3_offset + m.l3_length > size)) std::abort();
  if ((m.flags & kFlagIp) && !(m.flags & kFlagLaterFragment)) {
    FlowKey k;
    makeFlowKey(m, &k);  // reads the addresses: ASan checks they are inside the frame
  }
  if (m.flags & kFlagIcmpInner) {
    const int alen = m.family == 4 ? 4 : 16;
    volatile uint8_t x = m.inner_src_ip[alen - 1] ^ m.inner_dst_ip[alen - 1];  // ASan: inside the frame
    (void)x;
  }
  if (m.flags & kFlagArp) {
    volatile uint8_t x = m.arp_sender_mac[5] ^ m.arp_sender_ip[3];
    (void)x;
  }
  return 0;
}

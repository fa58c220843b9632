#include "frag_table.h"

#include <rte_hash_crc.h>

#include <cstring>

namespace goldgate::dataplane {

FragEntry* FragTable::bucket(const PacketMeta& m) {
  // Addresses in the frame are only 2-byte aligned: hash an aligned copy.
  alignas(8) uint8_t addrs[32];
  const int alen = m.family == 4 ? 4 : 16;
  std::memcpy(addrs, m.src_ip, alen);
  std::memcpy(addrs + alen, m.dst_ip, alen);
  constexpr uint32_t kBuckets = kEntries / kWays;
  return &entries_[(rte_hash_crc(addrs, 2 * alen, m.frag_id) & (kBuckets - 1)) * kWays];
}

// The entry holds this fragment's datagram (addresses, protocol, id), seen within kLifeSec:
// longer than any receiver keeps an incomplete datagram (Linux: 30 s for IPv4, 60 s for IPv6), so
// the switch never forgets a datagram whose first bytes its receiver still holds.
bool FragTable::sameDatagram(const FragEntry& fe, const PacketMeta& m, uint64_t now) const {
  const int alen = m.family == 4 ? 4 : 16;
  return live(fe, now) && fe.id == m.frag_id && fe.family == m.family && fe.protocol == m.protocol &&
         std::memcmp(fe.src, m.src_ip, alen) == 0 && std::memcmp(fe.dst, m.dst_ip, alen) == 0;
}

FragEntry* FragTable::find(const PacketMeta& m, uint64_t now) {
  FragEntry* b = bucket(m);
  for (uint32_t w = 0; w < kWays; ++w)
    if (sameDatagram(b[w], m, now)) return &b[w];
  return nullptr;
}

// An entry lives as long as its receiver may still hold the datagram's fragments (kLifeSec):
// were it forgotten sooner, a first fragment sent again with other bytes would be inspected while
// the receiver keeps the first copy and ignores the second (a duplicate), and the two would
// assemble different datagrams. So an entry still gathering is never taken over by another
// datagram; one whose verdict is only "later fragments follow the first" may be (its later
// fragments are then dropped, never passed). No room: null, and the fragment is dropped.
FragEntry* FragTable::claim(const PacketMeta& m, uint64_t now) {
  FragEntry* b = bucket(m);
  // 0 for a free or expired entry, else when it was last seen: the lowest is taken (a free one
  // first, then the oldest that only carries a verdict).
  auto lastSeen = [&](const FragEntry& e) { return live(e, now) ? e.tsc : 0; };
  FragEntry* take = nullptr;
  for (uint32_t w = 0; w < kWays; ++w) {
    FragEntry& fe = b[w];
    if (sameDatagram(fe, m, now)) return &fe;
    // Still gathering, given up or refused: its receiver may hold part of it.
    const bool held = lastSeen(fe) && fe.gather && !(fe.gather->done && !fe.gather->payload.bad());
    if (held) continue;
    if (!take || lastSeen(fe) < lastSeen(*take)) take = &fe;
  }
  if (!take) return nullptr;
  const int alen = m.family == 4 ? 4 : 16;
  release(*take);
  std::memcpy(take->src, m.src_ip, alen);
  std::memcpy(take->dst, m.dst_ip, alen);
  take->id = m.frag_id;
  take->protocol = m.protocol;
  take->family = m.family;
  take->valid = 0;
  take->tsc = now;
  return take;
}

bool FragTable::startGather(FragEntry& fe, const FlowKey& key, uint8_t srcIsA, uint16_t port) {
  release(fe);
  if (port >= kMaxPorts || gathers_port_[port] >= kGathersPort) return false;
  fe.gather = std::make_unique<FragGather>();
  fe.gather->key = key;
  fe.gather->src_is_a = srcIsA;
  fe.gather->port = port;
  ++gathers_port_[port];
  return true;
}

void FragTable::release(FragEntry& fe) {
  if (!fe.gather) return;
  FragGather& g = *fe.gather;
  held_ -= g.payload.heldBytes();
  held_port_[g.port] -= g.payload.heldBytes();
  --gathers_port_[g.port];
  fe.gather.reset();
}

void FragTable::sweep(uint64_t now) {
  for (auto& fe : entries_)
    if (fe.gather && !live(fe, now)) release(fe);
}

bool FragTable::add(FragGather& g, const PacketMeta& pm, const uint8_t* bytes, uint32_t len, uint64_t now) {
  FragmentGather& p = g.payload;
  if (p.bad()) return false;
  const uint32_t off = uint32_t{pm.frag_offset} * 8;
  const size_t before = p.heldBytes();
  const uint64_t grow = off + len > before ? off + len - before : 0;
  auto full = [&] { return held_ + grow > kHoldTotal || held_port_[g.port] + grow > kHoldPort; };
  if (grow && full()) {
    sweep(now);
    if (full()) {
      p.giveUp();
      return false;
    }
  }
  const bool ok = p.add(off, bytes, len, !(pm.flags & kFlagMoreFragments));
  held_ += p.heldBytes() - before;
  held_port_[g.port] += p.heldBytes() - before;
  return ok;
}

std::string FragTable::take(FragGather& g) {
  held_ -= g.payload.heldBytes();
  held_port_[g.port] -= g.payload.heldBytes();
  return g.payload.take();
}

}  // namespace goldgate::dataplane

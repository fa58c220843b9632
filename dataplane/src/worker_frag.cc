// IP fragments of inspected connections. A fragmented datagram is gathered until it is whole and
// then inspected as one packet; the fragment that completes it is held until the verdict. Its
// receiver cannot rebuild the datagram without that fragment, so a payload the data policy blocks
// never arrives, and no byte of an inspected connection passes unread. Fragments that cannot be
// gathered (overlapping, beyond the datagram's end, or with the worker's fragment hold full) are
// dropped and counted (`fragment_uninspected`), never passed.
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <cstring>
#include <string>

#include "worker.h"

namespace goldgate::dataplane {
namespace {

constexpr uint64_t kFragHoldTotal = 8ull << 20;           // bytes one worker gathers, in all datagrams
constexpr uint64_t kFragHoldPort = kFragHoldTotal / 4;     // ... for datagrams from one port
constexpr uint32_t kFragGathersPort = 256;                 // datagrams one port may have in gathering

uint32_t fragBytes(const PacketMeta& pm) {
  const uint32_t end = uint32_t{pm.l3_offset} + pm.l3_length;
  return end > pm.l4_offset ? end - pm.l4_offset : 0;
}

}  // namespace

// An entry lives as long as its receiver may still hold the datagram's fragments (kFragLifeSec):
// were it forgotten sooner, a first fragment sent again with other bytes would be inspected while
// the receiver keeps the first copy and ignores the second (a duplicate), and the two would
// assemble different datagrams. So an entry still gathering is never taken over by another
// datagram; one whose verdict is only "later fragments follow the first" may be (its later
// fragments are then dropped, never passed). No room: null, and the fragment is dropped.
Worker::FragEntry* Worker::claimFrag(const PacketMeta& m, uint64_t now) {
  FragEntry* b = fragBucket(m);
  // 0 for a free or expired entry, else when it was last seen: the lowest is taken (a free one
  // first, then the oldest that only carries a verdict).
  auto lastSeen = [&](const FragEntry& e) { return e.tsc && now - e.tsc < shared_->tsc_hz * kFragLifeSec ? e.tsc : 0; };
  FragEntry* take = nullptr;
  for (uint32_t w = 0; w < kFragWays; ++w) {
    FragEntry& fe = b[w];
    if (sameDatagram(fe, m, now)) return &fe;
    // Still gathering, given up or refused: its receiver may hold part of it.
    const bool held = lastSeen(fe) && fe.gather && !(fe.gather->done && !fe.gather->payload.bad());
    if (held) continue;
    if (!take || lastSeen(fe) < lastSeen(*take)) take = &fe;
  }
  if (!take) return nullptr;
  const int alen = m.family == 4 ? 4 : 16;
  releaseGather(*take);
  std::memcpy(take->src, m.src_ip, alen);
  std::memcpy(take->dst, m.dst_ip, alen);
  take->id = m.frag_id;
  take->protocol = m.protocol;
  take->family = m.family;
  take->valid = 0;
  take->tsc = now;
  return take;
}

void Worker::releaseGather(FragEntry& fe) {
  if (!fe.gather) return;
  FragGather& g = *fe.gather;
  frag_held_ -= g.payload.heldBytes();
  frag_held_port_[g.port] -= g.payload.heldBytes();
  --frag_gathers_port_[g.port];
  fe.gather.reset();
}

void Worker::sweepGathers(uint64_t now) {
  for (auto& fe : frags_)
    if (fe.gather && now - fe.tsc >= shared_->tsc_hz * kFragLifeSec) releaseGather(fe);
}

// Adds one fragment's bytes, within the worker's and the port's bounds on what is held. Full:
// the datagram is given up (its fragments are dropped from here on), never a younger one freed.
bool Worker::addFragment(FragGather& g, const PacketMeta& pm, rte_mbuf* m) {
  FragmentGather& p = g.payload;
  if (p.bad()) return false;
  const uint32_t off = uint32_t{pm.frag_offset} * 8;
  const uint32_t len = fragBytes(pm);
  const size_t before = p.heldBytes();
  const uint64_t grow = off + len > before ? off + len - before : 0;
  if (grow && (frag_held_ + grow > kFragHoldTotal || frag_held_port_[g.port] + grow > kFragHoldPort)) {
    sweepGathers(rte_rdtsc());
    if (frag_held_ + grow > kFragHoldTotal || frag_held_port_[g.port] + grow > kFragHoldPort) {
      p.giveUp();
      return false;
    }
  }
  const uint8_t* bytes = rte_pktmbuf_mtod_offset(m, const uint8_t*, pm.l4_offset);
  if (m->nb_segs > 1) {  // a chained mbuf: its bytes copied out whole
    if (linear_.size() < len) linear_.resize(len);
    bytes = static_cast<const uint8_t*>(rte_pktmbuf_read(m, pm.l4_offset, len, linear_.data()));
    if (!bytes) {
      p.giveUp();
      return false;
    }
  }
  const bool ok = p.add(off, bytes, len, !(pm.flags & kFlagMoreFragments));
  frag_held_ += p.heldBytes() - before;
  frag_held_port_[g.port] += p.heldBytes() - before;
  return ok;
}

int Worker::gatherFirst(const Flow& f, const FlowKey& k, int dir, const PacketMeta& pm, rte_mbuf* m, uint16_t in,
                        uint64_t now) {
  FragEntry* fe = claimFrag(pm, now);
  // A datagram inspected and passed may start again (its receiver rebuilt it); one given up or
  // refused may not, until its entry expires.
  if (fe && (!fe->gather || (fe->gather->done && !fe->gather->payload.bad()))) {
    releaseGather(*fe);
    if (frag_gathers_port_[in] >= kFragGathersPort) {
      fe = nullptr;
    } else {
      fe->gather = std::make_unique<FragGather>();
      fe->gather->key = k;
      fe->gather->src_is_a = static_cast<uint8_t>(dir == 0 ? f.orig_is_a : !f.orig_is_a);
      fe->gather->port = in;
      ++frag_gathers_port_[in];
    }
  }
  if (!fe || !addFragment(*fe->gather, pm, m)) {
    drop(m, DropReason::kFragmentUninspected, in);
    return kInspectDropped;
  }
  return kInspectPass;  // the rest of the datagram decides (gatherLater)
}

int Worker::gatherLater(const CompiledPolicy& pol, FragEntry& fe, const PacketMeta& pm, rte_mbuf* m, uint16_t in) {
  FragGather& g = *fe.gather;
  auto refuse = [&](DropReason why) {
    g.payload.giveUp();  // the receiver may hold part of it: its first fragment cannot start it again
    drop(m, why, in);
    return static_cast<int>(kInspectDropped);
  };
  if (g.done || !addFragment(g, pm, m)) return refuse(DropReason::kFragmentUninspected);
  if (!g.payload.complete()) return kInspectPass;

  // Whole: inspected as one packet of its connection, as the connection stands now.
  g.done = true;
  frag_held_ -= g.payload.heldBytes();
  frag_held_port_[g.port] -= g.payload.heldBytes();
  const std::string bytes = g.payload.take();
  int32_t pos = -1;
  const void* key = &g.key;
  flows_->lookupBulk(&key, 1, &pos);
  if (pos < 0) return refuse(DropReason::kFragmentUninspected);  // the connection is gone (cut, expired)
  const Flow& f = flows_->at(pos);
  if (inspector_->blocked(pos)) {
    fe.valid = 0;
    return refuse(DropReason::kDataPolicy);
  }
  const int dir = g.src_is_a == f.orig_is_a ? 0 : 1;
  PacketMeta q = pm;  // the completing fragment, with the datagram's L4 header
  if (!datagramL4(bytes, q)) return refuse(DropReason::kFragmentUninspected);
  // The datagram's L4 checksum, now that it is whole: one that its receiver would discard is not inspected.
  if (!l4ChecksumOk(q.family, q.protocol, q.src_ip, q.dst_ip, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) {
    fe.valid = 0;
    return refuse(DropReason::kBadL4Checksum);
  }
  size_t plen = 0;
  DropReason refused = DropReason::kNone;
  const Inspector::Verdict v = inspectPayload(pol, pos, f, g.key, dir, q, reinterpret_cast<const uint8_t*>(bytes.data()),
                                              bytes.size(), in, &plen, &refused);
  if (v == Inspector::kPass) return kInspectPass;
  if (v == Inspector::kDrop) return refuse(refused);
  // Blocked: the datagram never becomes whole at its receiver; copies of its fragments that come
  // again are dropped too (fragment_no_first), and the connection's later packets (data_policy).
  fe.valid = 0;
  return refuse(v == Inspector::kBlock ? DropReason::kDataPolicy : DropReason::kInspectionGap);
}

}  // namespace goldgate::dataplane

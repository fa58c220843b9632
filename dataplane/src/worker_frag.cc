// IP fragments of inspected connections. A fragmented datagram is gathered until it is whole and
// then inspected as one packet; the fragment that completes it is held until the verdict. Its
// receiver cannot rebuild the datagram without that fragment, so a payload the data policy blocks
// never arrives, and no byte of an inspected connection passes unread. Fragments that cannot be
// gathered (overlapping, beyond the datagram's end, or with the worker's fragment hold full) are
// dropped and counted (`fragment_uninspected`), never passed.
#include <rte_mbuf.h>

#include <cstring>
#include <string>

#include "worker.h"

namespace goldgate::dataplane {

// The first fragment of a datagram of an inspected connection: its gathering starts.
int Worker::gatherFirst(const Flow& f, const FlowKey& k, int dir, const PacketMeta& pm, rte_mbuf* m, uint16_t in,
                        uint64_t now) {
  FragEntry* fe = frags_.claim(pm, now);
  // A datagram inspected and passed may start again (its receiver rebuilt it); one given up or
  // refused may not, until its entry expires.
  if (fe && (!fe->gather || (fe->gather->done && !fe->gather->payload.bad())) &&
      !frags_.startGather(*fe, k, static_cast<uint8_t>(dir == 0 ? f.orig_is_a : !f.orig_is_a), in))
    fe = nullptr;
  if (!fe || !addFragment(*fe->gather, pm, m, now)) {
    drop(m, DropReason::kFragmentUninspected, in);
    return kInspectDropped;
  }
  return kInspectPass;  // the rest of the datagram decides (gatherLater)
}

// One fragment's payload into its gather (a chained mbuf's bytes copied out whole first).
bool Worker::addFragment(FragGather& g, const PacketMeta& pm, rte_mbuf* m, uint64_t now) {
  const uint32_t end = uint32_t{pm.l3_offset} + pm.l3_length;
  const uint32_t len = end > pm.l4_offset ? end - pm.l4_offset : 0;
  const uint8_t* bytes = rte_pktmbuf_mtod_offset(m, const uint8_t*, pm.l4_offset);
  if (m->nb_segs > 1) {
    if (linear_.size() < len) linear_.resize(len);
    bytes = static_cast<const uint8_t*>(rte_pktmbuf_read(m, pm.l4_offset, len, linear_.data()));
    if (!bytes) {
      g.payload.giveUp();
      return false;
    }
  }
  return frags_.add(g, pm, bytes, len, now);
}

int Worker::gatherLater(const CompiledPolicy& pol, FragEntry& fe, const PacketMeta& pm, rte_mbuf* m, uint16_t in,
                        uint64_t now) {
  FragGather& g = *fe.gather;
  auto refuse = [&](DropReason why) {
    g.payload.giveUp();  // the receiver may hold part of it: its first fragment cannot start it again
    drop(m, why, in);
    return static_cast<int>(kInspectDropped);
  };
  if (g.done || !addFragment(g, pm, m, now)) return refuse(DropReason::kFragmentUninspected);
  if (!g.payload.complete()) return kInspectPass;

  // Whole: inspected as one packet of its connection, as the connection stands now.
  g.done = true;
  const std::string bytes = frags_.take(g);
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
  if (!l4ChecksumOk(q.family, q.protocol, q.src_ip, q.dst_ip, reinterpret_cast<const uint8_t*>(bytes.data()),
                    bytes.size())) {
    fe.valid = 0;
    return refuse(DropReason::kBadL4Checksum);
  }
  size_t plen = 0;
  DropReason refused = DropReason::kNone;
  const Inspector::Verdict v = inspectPayload(
      pol, pos, f, g.key, dir, q, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), in, &plen, &refused);
  if (v == Inspector::kPass) return kInspectPass;
  if (v == Inspector::kDrop) return refuse(refused);
  // Blocked: the datagram never becomes whole at its receiver; copies of its fragments that come
  // again are dropped too (fragment_no_first), and the connection's later packets (data_policy).
  fe.valid = 0;
  return refuse(v == Inspector::kBlock ? DropReason::kDataPolicy : DropReason::kInspectionGap);
}

}  // namespace goldgate::dataplane

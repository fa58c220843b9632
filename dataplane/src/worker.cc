#include "worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>

#include "goldgate/common/endian.h"

namespace goldgate::dataplane {
namespace {

constexpr uint32_t kAgeEvery = 16;     // loop iterations between aging steps
constexpr uint32_t kAgeBudget = 32;    // flows looked at per aging step

// Fills an ACL key from a flow key seen from the originator's side.
void aclKeyFromFlow(const FlowKey& k, bool origIsA, uint16_t srcSeg, uint16_t dstSeg, AclKey4* k4, AclKey6* k6) {
  const uint8_t* src = origIsA ? k.addr_a : k.addr_b;
  const uint8_t* dst = origIsA ? k.addr_b : k.addr_a;
  uint16_t sport = origIsA ? k.port_a : k.port_b;
  uint16_t dport = origIsA ? k.port_b : k.port_a;
  if (k.family == 4) {
    std::memset(k4, 0, sizeof *k4);
    k4->proto = k.protocol;
    k4->src_seg = rte_cpu_to_be_16(srcSeg);
    k4->dst_seg = rte_cpu_to_be_16(dstSeg);
    std::memcpy(&k4->src_ip, src, 4);
    std::memcpy(&k4->dst_ip, dst, 4);
    k4->sport = rte_cpu_to_be_16(sport);
    k4->dport = rte_cpu_to_be_16(dport);
  } else {
    std::memset(k6, 0, sizeof *k6);
    k6->proto = k.protocol;
    k6->src_seg = rte_cpu_to_be_16(srcSeg);
    k6->dst_seg = rte_cpu_to_be_16(dstSeg);
    std::memcpy(k6->src_ip, src, 16);
    std::memcpy(k6->dst_ip, dst, 16);
    k6->sport = rte_cpu_to_be_16(sport);
    k6->dport = rte_cpu_to_be_16(dport);
  }
}

uint16_t segOfPort(const CompiledPolicy& pol, int port) {
  if (port < 0) return kSegExternal;
  return pol.portSegment(static_cast<uint16_t>(port));
}

}  // namespace

Worker::Worker(uint32_t id, uint16_t queue, const WorkerShared* shared, std::unique_ptr<FlowTable> flows, rte_ring* alerts)
    : id_(id), queue_(queue), alerts_(alerts), shared_(shared), flows_(std::move(flows)), fdb_(4096, shared->tsc_hz * 300) {
  inspector_ = std::make_unique<Inspector>(flows_->capacity(), shared->inspect_max_flows, shared->inspect_hold_total);
  inspect_events_.reserve(64);
}

void Worker::removeFlow(int32_t pos) {
  const Flow& f = flows_->at(pos);
  if (f.created_tsc && f.port[0] < kMaxPorts && port_flows_[f.port[0]]) --port_flows_[f.port[0]];
  inspector_->release(pos);
  flows_->remove(pos);
}

void Worker::drop(rte_mbuf* m, DropReason r, uint16_t in) {
  ++drop_local_[static_cast<int>(r)];
  ++port_drop_local_[in];
  drops_pending_ = true;
  rte_pktmbuf_free(m);
}

void Worker::send(uint16_t port, rte_mbuf* m) {
  TxBuffer& b = tx_[port];
  b.pkts[b.n++] = m;
  if (b.n == 2 * kBurst) flushTx();
}

void Worker::flood(uint32_t mask, rte_mbuf* m) {
  int n = __builtin_popcount(mask);
  if (n == 0) {
    rte_pktmbuf_free(m);
    return;
  }
  // The same mbuf goes out on every port: every PMD used here copies or holds a reference.
  if (n > 1) rte_mbuf_refcnt_update(m, static_cast<int16_t>(n - 1));
  while (mask) {
    int p = __builtin_ctz(mask);
    mask &= mask - 1;
    send(static_cast<uint16_t>(p), m);
  }
}

void Worker::flushTx() {
  if (shared_->tunnel) {
    const uint32_t first = static_cast<uint32_t>(shared_->ports.size());
    for (uint32_t p = first; p < first + shared_->tunnel->peerCount(); ++p) {
      // Held packets (peer_down: wait) are looked at even when nothing new is queued.
      if (tx_[p].n || (p - first < held_.size() && !held_[p - first].empty())) sealPending(static_cast<uint16_t>(p));
    }
  }
  for (uint32_t p = 0; p < shared_->ports.size(); ++p) {
    TxBuffer& b = tx_[p];
    if (b.n == 0) continue;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < b.n; ++i) bytes += rte_pktmbuf_pkt_len(b.pkts[i]);
    uint16_t sent = rte_eth_tx_burst(shared_->ports[p], queue_, b.pkts, b.n);
    if (sent < b.n) {
      for (uint16_t i = sent; i < b.n; ++i) {
        bytes -= rte_pktmbuf_pkt_len(b.pkts[i]);
        rte_pktmbuf_free(b.pkts[i]);
      }
      bump(stats_.ports[p].tx_errors, b.n - sent);
      bump(stats_.drops[static_cast<int>(DropReason::kTxFull)], b.n - sent);
    }
    bump(stats_.ports[p].tx_packets, sent);
    bump(stats_.ports[p].tx_bytes, bytes);
    b.n = 0;
  }
}

void Worker::enqueueAlert(const AlertRecord& a) {
  // A data-policy quarantine is a response: it goes by its own path, which cannot be lost.
  if (a.kind == AlertRecord::kDataFinding && a.action == static_cast<uint8_t>(datapolicy::Action::kQuarantine) && a.port < 32)
    quarantine_requests_.fetch_or(1u << a.port, std::memory_order_release);
  // What any sender can raise at will (a denied or spoofed packet, a full flow table) is limited
  // per port and kept to half the ring, so a flooding VM cannot crowd out another VM's data
  // findings: those, gaps and tunnel events take the rest.
  const bool low = a.kind == AlertRecord::kDeny || a.kind == AlertRecord::kAllowLog || a.kind == AlertRecord::kSpoofMac ||
                   a.kind == AlertRecord::kSpoofIp || a.kind == AlertRecord::kFlowTableFull;
  if (low) {
    const uint32_t p = (a.port < kMaxPorts ? a.port : 0) * kLowKinds + a.kind;  // a bucket per port and kind
    const uint64_t now = rte_rdtsc();
    const uint64_t per = shared_->tsc_hz / kAlertsPerSecond;
    if (alert_refill_tsc_[p] == 0) {
      alert_tokens_[p] = kAlertBurst;
      alert_refill_tsc_[p] = now;
    } else if (per && now - alert_refill_tsc_[p] >= per) {
      const uint64_t add = (now - alert_refill_tsc_[p]) / per;
      alert_tokens_[p] = static_cast<uint32_t>(std::min<uint64_t>(kAlertBurst, alert_tokens_[p] + add));
      alert_refill_tsc_[p] += add * per;
    }
    if (alert_tokens_[p] == 0 || rte_ring_count(alerts_) >= rte_ring_get_capacity(alerts_) / 2) {
      bump(stats_.alerts_rate_limited, 1);
      return;
    }
    --alert_tokens_[p];
  }
  // A full ring loses the record, never blocks: the loss is counted and reported as an event.
  if (rte_ring_sp_enqueue_elem(alerts_, const_cast<AlertRecord*>(&a), sizeof a) != 0) bump(stats_.alerts_dropped, 1);
}

void Worker::alert(AlertRecord::Kind kind, const PacketMeta& m, uint16_t in, uint32_t rule, uint64_t gen) {
  AlertRecord a{};
  a.kind = kind;
  a.family = m.family;
  a.protocol = m.protocol;
  a.port = static_cast<uint8_t>(in);
  a.rule = rule;
  a.policy_gen = gen;
  a.sport = m.sport;
  a.dport = m.dport;
  if (m.family) {
    std::memcpy(a.src, m.src_ip, m.family == 4 ? 4 : 16);
    std::memcpy(a.dst, m.dst_ip, m.family == 4 ? 4 : 16);
  } else if (m.arp_sender_ip) {
    a.family = 4;
    std::memcpy(a.src, m.arp_sender_ip, 4);
  }
  std::memcpy(a.src_mac, m.src_mac, 6);
  enqueueAlert(a);
}

void Worker::alertFlow(AlertRecord::Kind kind, const FlowKey& k, const Flow& f, uint64_t gen) {
  AlertRecord a{};
  a.kind = kind;
  a.family = k.family;
  a.protocol = k.protocol;
  a.port = f.port[0];
  a.rule = f.rule;
  a.policy_gen = gen;
  bool o = f.orig_is_a;
  a.sport = o ? k.port_a : k.port_b;
  a.dport = o ? k.port_b : k.port_a;
  std::memcpy(a.src, o ? k.addr_a : k.addr_b, 16);
  std::memcpy(a.dst, o ? k.addr_b : k.addr_a, 16);
  enqueueAlert(a);
}

int Worker::outPortFor(const CompiledPolicy& pol, const uint8_t* dstMac, uint16_t in, uint64_t now, uint8_t family,
                       const uint8_t* dstIp) {
  uint64_t mac = macOf(dstMac);
  // To the router: routed by destination address into the tunnel of the peer whose zone holds it.
  if (mac == pol.routerMac() && mac) return dstIp ? pol.tunnelPortFor(family, dstIp) : -1;
  int out = pol.staticPortForMac(mac);
  if (out >= 0) return out;
  out = fdb_.lookup(mac, now);
  if (out >= 0) return out;
  if (pol.isUplink(in)) return -1;
  uint32_t up = pol.uplinkMask();
  return up ? __builtin_ctz(up) : -1;
}

Worker::FragEntry* Worker::fragBucket(const PacketMeta& m) {
  // Addresses in the frame are only 2-byte aligned: hash an aligned copy.
  alignas(8) uint8_t addrs[32];
  const int alen = m.family == 4 ? 4 : 16;
  std::memcpy(addrs, m.src_ip, alen);
  std::memcpy(addrs + alen, m.dst_ip, alen);
  constexpr uint32_t kBuckets = kFragEntries / kFragWays;
  return &frags_[(rte_hash_crc(addrs, 2 * alen, m.frag_id) & (kBuckets - 1)) * kFragWays];
}

Worker::FragEntry* Worker::findFrag(const PacketMeta& m, uint64_t now) {
  FragEntry* b = fragBucket(m);
  for (uint32_t w = 0; w < kFragWays; ++w)
    if (sameDatagram(b[w], m, now)) return &b[w];
  return nullptr;
}

// The entry holds this fragment's datagram (addresses, protocol, id), seen within kFragLifeSec:
// longer than any receiver keeps an incomplete datagram (Linux: 30 s for IPv4, 60 s for IPv6), so
// the switch never forgets a datagram whose first bytes its receiver still holds.
bool Worker::sameDatagram(const FragEntry& fe, const PacketMeta& m, uint64_t now) const {
  const int alen = m.family == 4 ? 4 : 16;
  return fe.tsc && fe.id == m.frag_id && fe.family == m.family && fe.protocol == m.protocol &&
         now - fe.tsc < shared_->tsc_hz * kFragLifeSec && std::memcmp(fe.src, m.src_ip, alen) == 0 &&
         std::memcmp(fe.dst, m.dst_ip, alen) == 0;
}

bool Worker::revalidate(const CompiledPolicy& pol, Flow& f, const FlowKey& k) {
  uint16_t srcSeg = segOfPort(pol, f.port[0]);
  uint16_t dstSeg = pol.isUplink(f.port[1]) ? kSegExternal : segOfPort(pol, f.port[1]);
  AclKey4 k4;
  AclKey6 k6;
  aclKeyFromFlow(k, f.orig_is_a, srcSeg, dstSeg, &k4, &k6);
  uint32_t rule = 0;
  const uint8_t* key = k.family == 4 ? reinterpret_cast<const uint8_t*>(&k4) : reinterpret_cast<const uint8_t*>(&k6);
  if (srcSeg != kSegUnassigned && dstSeg != kSegUnassigned) {
    if (k.family == 4) pol.classify4(&key, &rule, 1);
    else pol.classify6(&key, &rule, 1);
  }
  if (!pol.ruleAllows(rule)) return false;
  f.rule = rule;
  f.policy_gen = pol.generation();
  return true;
}

void Worker::age(const CompiledPolicy& pol, uint64_t now, uint32_t budget) {
  for (uint32_t i = 0; i < budget; ++i) {
    const FlowKey* key = nullptr;
    int32_t pos = flows_->next(&age_iter_, &key);
    if (pos < 0) return;
    Flow& f = flows_->at(pos);
    if (now - f.last_tsc > shared_->timeouts.by_state[static_cast<int>(f.state)]) {
      removeFlow(pos);
      bump(stats_.flows_expired, 1);
    } else if (f.policy_gen != pol.generation() && !revalidate(pol, f, *key)) {
      // Cut idle flows too, so `goldgatectl flows` shows only what the policy in force allows.
      alertFlow(AlertRecord::kFlowCut, *key, f, pol.generation());
      removeFlow(pos);
      bump(stats_.flows_cut, 1);
    }
  }
}

void Worker::serveMailbox() {
  auto expected = Mailbox::State::kRequested;
  if (mailbox_.state.load(std::memory_order_relaxed) != Mailbox::State::kRequested ||
      !mailbox_.state.compare_exchange_strong(expected, Mailbox::State::kServing))
    return;  // nothing asked, or the requester withdrew
  if (mailbox_.cmd == Mailbox::Cmd::kFlushPort) {
    uint32_t iter = 0;
    const FlowKey* key;
    int32_t pos;
    uint64_t removed = 0;
    const int port = mailbox_.query.port;
    while ((pos = flows_->next(&iter, &key)) >= 0) {
      const Flow& f = flows_->at(pos);
      if (f.port[0] != port && f.port[1] != port) continue;
      removeFlow(pos);
      ++removed;
    }
    bump(stats_.flows_cut, removed);
    mailbox_.matched = removed;
  } else {
    const FlowQuery& q = mailbox_.query;
    uint32_t iter = 0;
    const FlowKey* key;
    int32_t pos;
    uint64_t matched = 0;
    while ((pos = flows_->next(&iter, &key)) >= 0) {
      const Flow& f = flows_->at(pos);
      if (q.port >= 0 && f.port[0] != q.port && f.port[1] != q.port) continue;
      if (q.protocol && key->protocol != q.protocol) continue;
      if (q.family) {
        const int alen = q.family == 4 ? 4 : 16;
        if (key->family != q.family ||
            (std::memcmp(key->addr_a, q.ip, alen) != 0 && std::memcmp(key->addr_b, q.ip, alen) != 0))
          continue;
      }
      ++matched;
      if (mailbox_.out->size() < mailbox_.out->capacity()) mailbox_.out->push_back(FlowSnapshot{*key, f, inspector_->classesSeen(pos)});
    }
    mailbox_.matched = matched;
  }
  mailbox_.state.store(Mailbox::State::kDone, std::memory_order_release);
}

template <bool kSecure>
void Worker::processBurst(const CompiledPolicy& pol, uint16_t in, rte_mbuf** pkts, uint32_t n, uint64_t now) {
  PacketMeta meta[kBurst];
  FlowKey keys[kBurst];
  const void* keyPtrs[kBurst];
  uint8_t keyIdx[kBurst];      // burst index of each flow key
  uint8_t srcIsA[kBurst];
  int16_t out[kBurst];
  uint32_t nkeys = 0;
  uint32_t related = 0;        // bit j: key j is the quoted connection of an ICMP error
  uint8_t later[kBurst];       // burst indexes of non-first IP fragments
  uint32_t nlater = 0;
  uint64_t rxBytes = 0;
  const bool inUplink = pol.isUplink(in);
  const bool inUnderlay = shared_->tunnel && in == shared_->tunnel->uplink();
  const PortBinding& bind = pol.port(in);
  const uint32_t allPorts = (shared_->ports.size() >= 32 ? ~0u : (1u << shared_->ports.size()) - 1);
  const uint32_t floodMask = kSecure ? pol.floodMask(in) : allPorts & ~(1u << in);

  if (kSecure && !inUplink && pol.portSegment(in) == kSegUnassigned) {
    for (uint32_t i = 0; i < n; ++i) {
      rxBytes += rte_pktmbuf_pkt_len(pkts[i]);
      drop(pkts[i], DropReason::kPortClosed, in);
    }
    bump(stats_.ports[in].rx_packets, n);
    bump(stats_.ports[in].rx_bytes, rxBytes);
    return;
  }

  // Pass 1: parse, anti-spoofing, L2 decisions; collect flow keys of IP packets.
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    out[i] = -1;
    rxBytes += rte_pktmbuf_pkt_len(m);
    PacketMeta& pm = meta[i];
    DropReason r = parsePacket(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), &pm);
    if (r != DropReason::kNone) {
      drop(m, r, in);
      pkts[i] = nullptr;
      continue;
    }
    if constexpr (kSecure) {
      // What the receiver would discard must not change any state here: checksums first.
      const DropReason bad = checksums(m, pm);
      if (bad != DropReason::kNone) {
        drop(m, bad, in);
        pkts[i] = nullptr;
        continue;
      }
      // VM ports are access ports; a VM is no router (RA / redirect guard) and no DHCP server.
      if (!inUplink) {
        const DropReason guard = vmGuard(pm, rte_pktmbuf_mtod(m, const uint8_t*));
        if (guard != DropReason::kNone) {
          drop(m, guard, in);
          pkts[i] = nullptr;
          continue;
        }
      }
    }
    if (inUnderlay && underlayInput(m, pm, now)) {
      pkts[i] = nullptr;
      continue;
    }
    if (bind.mac) {
      if (macOf(pm.src_mac) != bind.mac || (pm.arp_sender_mac && macOf(pm.arp_sender_mac) != bind.mac)) {
        alert(AlertRecord::kSpoofMac, pm, in, 0, pol.generation());
        drop(m, DropReason::kSpoofedMac, in);
        pkts[i] = nullptr;
        continue;
      }
    } else if (!(pm.src_mac[0] & 1)) {
      // Most frames on an uplink come from one router: refresh its entry at most every ~1 ms.
      uint64_t mac = macOf(pm.src_mac);
      if (mac != last_learned_[in] || now - last_learned_tsc_[in] > shared_->tsc_hz / 1024) {
        if (fdb_.learn(mac, static_cast<uint8_t>(in), now)) bump(stats_.mac_learned, 1);
        last_learned_[in] = mac;
        last_learned_tsc_[in] = now;
      }
    }
    {
      const DropReason spoof = inUplink ? outsideClaim(pol, pm, rte_pktmbuf_mtod(m, const uint8_t*))
                                        : sourceCheck(pol, in, pm, rte_pktmbuf_mtod(m, const uint8_t*));
      if (spoof != DropReason::kNone) {
        alert(AlertRecord::kSpoofIp, pm, in, 0, pol.generation());
        drop(m, spoof, in);
        pkts[i] = nullptr;
        continue;
      }
    }
    if (pm.flags & (kFlagArp | kFlagNd)) {
      // The router address and addresses behind peers are answered by the switch itself.
      if (shared_->tunnel && !inUplink && answerForRouter(pol, m, pm, in)) {
        pkts[i] = nullptr;
        continue;
      }
      // Address resolution: flooded or forwarded only toward ports the sender may reach.
      if (pm.dst_mac[0] & 1) {
        flood(floodMask, m);
      } else {
        int o = outPortFor(pol, pm.dst_mac, in, now);
        if (o < 0 || !((floodMask >> o) & 1)) drop(m, DropReason::kL2NotReachable, in);
        else send(static_cast<uint16_t>(o), m);
      }
      pkts[i] = nullptr;
      continue;
    }
    if (pm.dst_mac[0] & 1) {
      drop(m, DropReason::kIpMulticast, in);
      pkts[i] = nullptr;
      continue;
    }
    if constexpr (!kSecure) {
      // L2 baseline: no policy, no connection tracking.
      int o = outPortFor(pol, pm.dst_mac, in, now);
      if (o < 0 || o == in) drop(m, o < 0 ? DropReason::kUnknownDestination : DropReason::kHairpin, in);
      else send(static_cast<uint16_t>(o), m);
      pkts[i] = nullptr;
      continue;
    }
    // The output port of a tracked connection comes from its flow entry (pass 2); only new
    // connections look the destination MAC up (pass 3).
    if (pm.flags & kFlagLaterFragment) {
      // Decided after the burst's first fragments have been admitted (pass 5).
      later[nlater++] = static_cast<uint8_t>(i);
      continue;
    }
    if (pm.flags & kFlagIcmpError) {
      // An ICMP error (unreachable, packet too big, time exceeded) belongs to the connection it
      // quotes: looked up by the quoted packet's tuple, it passes only back toward that packet's
      // sender (path MTU discovery through the switch). Unparseable or unrelated: dropped.
      if (!(pm.flags & kFlagIcmpInner)) {
        drop(m, DropReason::kIcmpUnrelated, in);
        pkts[i] = nullptr;
        continue;
      }
      PacketMeta quoted = pm;
      quoted.src_ip = pm.inner_src_ip;
      quoted.dst_ip = pm.inner_dst_ip;
      quoted.sport = pm.inner_sport;
      quoted.dport = pm.inner_dport;
      quoted.protocol = pm.inner_protocol;
      srcIsA[nkeys] = makeFlowKey(quoted, &keys[nkeys]);
      related |= 1u << nkeys;
    } else {
      srcIsA[nkeys] = makeFlowKey(pm, &keys[nkeys]);
    }
    keyPtrs[nkeys] = &keys[nkeys];
    keyIdx[nkeys] = static_cast<uint8_t>(i);
    ++nkeys;
  }
  bump(stats_.ports[in].rx_packets, n);
  bump(stats_.ports[in].rx_bytes, rxBytes);
  if (nkeys) processFlows(pol, in, pkts, meta, keys, keyPtrs, keyIdx, srcIsA, out, nkeys, related, now);
  if (n_esp_in_) openPending(pol, now);  // ESP from peers: opened, then switched as from the peer's port

  // Pass 5: later fragments follow the verdict of their first fragment.
  for (uint32_t x = 0; x < nlater; ++x) {
    uint32_t i = later[x];
    const PacketMeta& pm = meta[i];
    FragEntry* fe = findFrag(pm, now);
    if (fe && fe->valid) {
      fe->tsc = now;
      // Of an inspected connection: gathered, and the fragment that completes the datagram is
      // held until the datagram has been inspected.
      if (fe->gather && gatherLater(pol, *fe, pm, pkts[i], in) != kInspectPass) continue;
      send(fe->out_port, pkts[i]);
    } else {
      drop(pkts[i], DropReason::kFragmentNoFlow, in);
    }
  }
}

void Worker::processFlows(const CompiledPolicy& pol, uint16_t in, rte_mbuf** pkts, const PacketMeta* meta,
                          const FlowKey* keys, const void** keyPtrs, const uint8_t* keyIdx, const uint8_t* srcIsA,
                          int16_t* out, uint32_t nkeys, uint32_t related, uint64_t now) {

  // Pass 2: batch conntrack lookup.
  int32_t pos[kBurst];
  flows_->lookupBulk(keyPtrs, nkeys, pos);
  // Flow records are touched next: start loading them all before the first is needed.
  for (uint32_t j = 0; j < nkeys; ++j)
    if (pos[j] >= 0) rte_prefetch0(&flows_->at(pos[j]));

  uint32_t miss[kBurst];
  uint32_t nmiss = 0;
  const bool inspecting = pol.inspectPlan() != nullptr;
  for (uint32_t j = 0; j < nkeys; ++j) {
    uint32_t i = keyIdx[j];
    const PacketMeta& pm = meta[i];
    const bool isRelated = (related >> j) & 1;
    // Inspection reads every payload byte: start loading the next packet's, and its flow's
    // inspection state, while this one is scanned.
    if (inspecting && j + 1 < nkeys) {
      const rte_mbuf* next = pkts[keyIdx[j + 1]];
      const auto* d = rte_pktmbuf_mtod(next, const uint8_t*);
      const uint32_t upTo = std::min<uint32_t>(rte_pktmbuf_data_len(next), 2048);  // the rest streams in behind
      for (uint32_t off = 0; off < upTo; off += 64) rte_prefetch0(d + off);
      if (pos[j + 1] >= 0) {
        const Flow& nf = flows_->at(pos[j + 1]);
        inspector_->prefetch(pos[j + 1], srcIsA[j + 1] == nf.orig_is_a ? 0 : 1);
      }
    }
    if (pos[j] < 0) {
      if (isRelated) {
        drop(pkts[i], DropReason::kIcmpUnrelated, in);
        pkts[i] = nullptr;
        continue;
      }
      miss[nmiss++] = j;
      continue;
    }
    Flow& f = flows_->at(pos[j]);
    // For an ICMP error, `dir` is the direction of the quoted packet; the error itself comes from
    // that packet's destination side.
    int dir = (srcIsA[j] == f.orig_is_a) ? 0 : 1;
    const int arrival = isRelated ? dir ^ 1 : dir;
    if (!isRelated && pm.protocol == 6 && tcpOpens(pm.tcp_flags) && tcpReusable(f)) {
      // A new connection on the 4-tuple of a closed one: decided afresh by the policy.
      removeFlow(pos[j]);
      miss[nmiss++] = j;
      continue;
    }
    // A packet of a tracked connection must come from the port its side of the connection is on:
    // otherwise a sender elsewhere (e.g. behind the uplink) could ride an admitted connection.
    if (in != f.port[arrival]) {
      drop(pkts[i], DropReason::kWrongPort, in);
      pkts[i] = nullptr;
      continue;
    }
    if (f.policy_gen != pol.generation() && !revalidate(pol, f, keys[j])) {
      alertFlow(AlertRecord::kFlowCut, keys[j], f, pol.generation());
      removeFlow(pos[j]);
      bump(stats_.flows_cut, 1);
      drop(pkts[i], DropReason::kFlowCut, in);
      pkts[i] = nullptr;
      continue;
    }
    if (isRelated) {
      out[i] = f.port[dir];  // back to the quoted packet's sender; the connection's state is unchanged
      // Under inspection an error carries no more than an error needs: what it quotes could
      // otherwise carry any payload past inspection.
      if (pol.inspectPlan() && pol.inspectPlan()->inspects(in, f.port[dir]) && !boundIcmpQuote(pkts[i], pm)) {
        drop(pkts[i], DropReason::kUninspectedProtocol, in);
        pkts[i] = nullptr;
      }
      continue;
    }
    if (pol.inspectPlan() && readable(pm)) {
      int r = inspect(pol, pos[j], f, keys[j], dir, pm, pkts[i], in, now);
      if (r == kInspectDropped) pkts[i] = nullptr;
      if (r == kInspectReset) out[i] = f.port[dir ^ 1];
      if (r != kInspectPass) continue;
    }
    trackPacket(f, dir, pm.protocol, pm.tcp_flags);
    f.last_tsc = now;
    ++f.packets[dir];
    f.bytes[dir] += rte_pktmbuf_pkt_len(pkts[i]);
    out[i] = f.port[dir ^ 1];
  }

  // Pass 3: new flows, classified in one ACL call per family.
  if (nmiss) {
    uint64_t t0 = rte_rdtsc();
    AclKey4 k4[kBurst];
    AclKey6 k6[kBurst];
    const uint8_t* p4[kBurst];
    const uint8_t* p6[kBurst];
    uint32_t r4[kBurst], r6[kBurst];
    uint32_t m4[kBurst], m6[kBurst];
    uint32_t n4 = 0, n6 = 0;
    const uint16_t srcSeg = pol.portSegment(in);
    for (uint32_t x = 0; x < nmiss; ++x) {
      uint32_t j = miss[x];
      uint32_t i = keyIdx[j];
      const PacketMeta& pm = meta[i];
      if (pm.protocol == 6 && !tcpOpens(pm.tcp_flags)) {
        drop(pkts[i], DropReason::kTcpNoFlow, in);
        pkts[i] = nullptr;
        continue;
      }
      // A new connection from behind the uplink in the name of a VM here: forged. (An existing
      // one's packets from the wrong side are flow_wrong_port.)
      if (pol.isUplink(in) && pol.boundToVm(pm.family, pm.src_ip)) {
        alert(AlertRecord::kSpoofIp, pm, in, 0, pol.generation());
        drop(pkts[i], DropReason::kSpoofedFromOutside, in);
        pkts[i] = nullptr;
        continue;
      }
      int o = outPortFor(pol, pm.dst_mac, in, now, pm.family, pm.dst_ip);
      if (o < 0 || o == in) {
        drop(pkts[i], o < 0 ? DropReason::kUnknownDestination : DropReason::kHairpin, in);
        pkts[i] = nullptr;
        continue;
      }
      out[i] = static_cast<int16_t>(o);
      uint16_t dstSeg = pol.isUplink(static_cast<uint16_t>(out[i])) ? kSegExternal : pol.portSegment(out[i]);
      if (pm.family == 4) {
        aclKeyFromFlow(keys[j], srcIsA[j], srcSeg, dstSeg, &k4[n4], nullptr);
        p4[n4] = reinterpret_cast<const uint8_t*>(&k4[n4]);
        m4[n4++] = x;
      } else {
        aclKeyFromFlow(keys[j], srcIsA[j], srcSeg, dstSeg, nullptr, &k6[n6]);
        p6[n6] = reinterpret_cast<const uint8_t*>(&k6[n6]);
        m6[n6++] = x;
      }
    }
    if (n4) pol.classify4(p4, r4, n4);
    if (n6) pol.classify6(p6, r6, n6);
    uint32_t rules[kBurst];
    for (uint32_t y = 0; y < n4; ++y) rules[m4[y]] = r4[y];
    for (uint32_t y = 0; y < n6; ++y) rules[m6[y]] = r6[y];
    const uint64_t gen = pol.generation();
    for (uint32_t x = 0; x < nmiss; ++x) {
      uint32_t j = miss[x];
      uint32_t i = keyIdx[j];
      if (!pkts[i]) continue;
      const PacketMeta& pm = meta[i];
      uint32_t rule = rules[x];
      pol.countHit(id_, rule);
      if (!pol.ruleAllows(rule)) {
        if (pol.ruleLogs(rule)) alert(AlertRecord::kDeny, pm, in, rule, gen);
        drop(pkts[i], DropReason::kPolicyDeny, in);
        pkts[i] = nullptr;
        continue;
      }
      // Under inspection, a protocol whose payload the switch cannot read is refused unless the
      // rule admitting it says `uninspected: true`: nothing that carries payload passes unread.
      if (pol.inspectPlan() && !readable(pm) && !pol.ruleUninspected(rule) &&
          pol.inspectPlan()->inspects(in, static_cast<uint16_t>(out[i]))) {
        drop(pkts[i], DropReason::kUninspectedProtocol, in);
        pkts[i] = nullptr;
        continue;
      }
      // A VM port's share of the table: past it, its own new connections are refused (fail
      // closed), never another VM's.
      const bool overShare = !pol.isUplink(in) && port_flows_[in] >= shared_->port_flow_limit;
      int32_t p = overShare ? -1 : flows_->insert(keys[j]);
      if (p < 0) {
        alert(AlertRecord::kFlowTableFull, pm, in, rule, gen);
        drop(pkts[i], overShare ? DropReason::kPortFlowLimit : DropReason::kFlowTableFull, in);
        pkts[i] = nullptr;
        continue;
      }
      Flow& f = flows_->at(p);
      if (f.created_tsc == 0) {
        f.created_tsc = now;
        f.policy_gen = gen;
        f.rule = rule;
        f.state = initialState(pm.protocol);
        f.orig_is_a = srcIsA[j];
        f.port[0] = static_cast<uint8_t>(in);
        f.port[1] = static_cast<uint8_t>(out[i]);
        ++port_flows_[in];
        bump(stats_.flows_created, 1);
        if (pol.ruleLogs(rule)) alert(AlertRecord::kAllowLog, pm, in, rule, gen);
      }
      int dir = (srcIsA[j] == f.orig_is_a) ? 0 : 1;
      if (pol.inspectPlan() && readable(pm)) {
        int r = inspect(pol, p, f, keys[j], dir, pm, pkts[i], in, now);
        if (r == kInspectDropped) pkts[i] = nullptr;
        if (r != kInspectPass) continue;
      }
      trackPacket(f, dir, pm.protocol, pm.tcp_flags);
      f.last_tsc = now;
      ++f.packets[dir];
      f.bytes[dir] += rte_pktmbuf_pkt_len(pkts[i]);
    }
    bump(stats_.new_flow_cycles, rte_rdtsc() - t0);
  }

  // Pass 4: forward in arrival order.
  for (uint32_t j = 0; j < nkeys; ++j) {
    uint32_t i = keyIdx[j];
    if (!pkts[i]) continue;
    if (meta[i].flags & kFlagFragment) {
      // A first fragment that passed: its later fragments follow it (pass 5).
      FragEntry* fe = claimFrag(meta[i], now);
      if (!fe) {  // every entry it could take holds a datagram still being gathered
        drop(pkts[i], DropReason::kFragmentUninspected, in);
        continue;
      }
      fe->out_port = static_cast<uint8_t>(out[i]);
      fe->valid = 1;
      fe->tsc = now;
    }
    send(static_cast<uint16_t>(out[i]), pkts[i]);
  }
}

DropReason Worker::checksums(rte_mbuf* m, const PacketMeta& pm) {
  if (!(pm.flags & kFlagIp)) return DropReason::kNone;
  // Offload-aware: a device that verified a checksum says so (GOOD / BAD); NONE means the data is
  // valid and the checksum field was left for the host to finish (a VM's checksum offload).
  const uint64_t ipf = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  const uint64_t l4f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->nb_segs > 1) {
    if (linear_.size() < rte_pktmbuf_pkt_len(m)) linear_.resize(rte_pktmbuf_pkt_len(m));
    data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), linear_.data()));
    if (!data) return DropReason::kTruncatedL4;
  }
  if (ipf == RTE_MBUF_F_RX_IP_CKSUM_BAD || (ipf == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN && !ipChecksumOk(data, pm)))
    return DropReason::kBadIpChecksum;
  // A fragment's L4 checksum covers the whole datagram: checked when it is gathered (inspected
  // connections), left to the receiver otherwise.
  if (pm.flags & kFlagFragment) return DropReason::kNone;
  if (l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD || (l4f == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN && !l4ChecksumOk(data, pm)))
    return DropReason::kBadL4Checksum;
  return DropReason::kNone;
}

// Addresses, from a VM port or a tunnel peer: the source (or ARP sender) must be the port's own;
// a port that binds none sends only address acquisition. ND from a VM is inspected too: the
// target of an advertisement, or of duplicate address detection, must be one of its addresses,
// and a link-layer address option must be its MAC (else it could take over a neighbour's address
// in other VMs' caches while its own source address is correct).
DropReason Worker::sourceCheck(const CompiledPolicy& pol, uint16_t in, const PacketMeta& pm, const uint8_t* data) {
  const bool acquisition = (pm.flags & (kFlagArp | kFlagNd)) ||
                           (pm.protocol == 17 && (pm.flags & kFlagL4) && (pm.dport == 67 || pm.dport == 547));
  bool ok = true;
  if (pm.flags & kFlagArp) ok = pol.sourceIpAllowed(in, 4, pm.arp_sender_ip, acquisition);
  else if (pm.flags & kFlagIp) ok = pol.sourceIpAllowed(in, pm.family, pm.src_ip, acquisition);
  if (!ok) return pol.isTunnel(in) && pol.boundToVm((pm.flags & kFlagArp) ? 4 : pm.family, (pm.flags & kFlagArp) ? pm.arp_sender_ip : pm.src_ip)
                      ? DropReason::kSpoofedFromOutside : DropReason::kSpoofedIp;
  if (!(pm.flags & kFlagNd) || pol.isTunnel(in)) return DropReason::kNone;
  // ND in fragments: its options could go on in a fragment not read here (RFC 6980 has receivers
  // drop it).
  if (pm.flags & kFlagFragment) return DropReason::kNdSpoofed;
  const PortBinding& bind = pol.port(in);
  const uint8_t* target = nullptr;
  uint32_t opts = 0;
  if (!ndFields(pm, data, &target, &opts)) return DropReason::kNdSpoofed;
  static constexpr uint8_t kUnspecified[16] = {};
  const bool dad = pm.icmp_type == 135 && std::memcmp(pm.src_ip, kUnspecified, 16) == 0;
  const bool bound = !bind.ipv4.empty() || !bind.ipv6.empty();
  if (target && (pm.icmp_type == 136 || (dad && bound)) && !pol.sourceIpAllowed(in, 6, target)) return DropReason::kNdSpoofed;
  const uint32_t end = ndEnd(pm);
  for (uint32_t o = opts; o + 2 <= end;) {
    const uint32_t olen = uint32_t{data[o + 1]} * 8;
    if (olen == 0 || o + olen > end) return DropReason::kNdSpoofed;  // receivers discard it whole
    if ((data[o] == 1 || data[o] == 2) && olen >= 8 && bind.mac && macOf(data + o + 2) != bind.mac) return DropReason::kNdSpoofed;
    o += olen;
  }
  return DropReason::kNone;
}

// From the uplink: ARP or ND that claims an address bound to a VM here (its sender, source or
// advertised target) is forged. IP packets are checked when they would open a connection (pass 3).
DropReason Worker::outsideClaim(const CompiledPolicy& pol, const PacketMeta& pm, const uint8_t* data) {
  if (pm.flags & kFlagArp) return pol.boundToVm(4, pm.arp_sender_ip) ? DropReason::kSpoofedFromOutside : DropReason::kNone;
  if (!(pm.flags & kFlagNd)) return DropReason::kNone;
  if (pol.boundToVm(6, pm.src_ip)) return DropReason::kSpoofedFromOutside;
  const uint8_t* target = nullptr;
  uint32_t opts = 0;
  if (pm.icmp_type == 136 && ndFields(pm, data, &target, &opts) && target && pol.boundToVm(6, target))
    return DropReason::kSpoofedFromOutside;
  return DropReason::kNone;
}

uint32_t Worker::ndEnd(const PacketMeta& pm) { return uint32_t{pm.l3_offset} + pm.l3_length; }

// The target address (NS, NA, redirect) and where the options start; false when the message is
// too short for its fixed part.
bool Worker::ndFields(const PacketMeta& pm, const uint8_t* data, const uint8_t** target, uint32_t* opts) {
  const uint32_t off = pm.l4_offset, end = ndEnd(pm);
  const uint32_t fixed = pm.icmp_type == 133 ? 8 : pm.icmp_type == 134 ? 16 : pm.icmp_type == 137 ? 40 : 24;
  if (off == 0 || off + fixed > end) return false;
  *target = (pm.icmp_type == 135 || pm.icmp_type == 136 || pm.icmp_type == 137) ? data + off + 8 : nullptr;
  *opts = off + fixed;
  return true;
}

DropReason Worker::vmGuard(const PacketMeta& pm, const uint8_t* data) {
  if (pm.flags & kFlagVlan) return DropReason::kTaggedFromVm;
  if (!(pm.flags & kFlagIp) || pm.l4_offset == 0) return DropReason::kNone;
  // ICMPv6 router advertisement (134) and redirect (137); ICMP redirect (5).
  if (pm.protocol == 58 && (pm.icmp_type == 134 || pm.icmp_type == 137)) return DropReason::kRouterGuard;
  if (pm.protocol == 1 && pm.icmp_type == 5) return DropReason::kRouterGuard;
  // DHCP (67 -> 68) and DHCPv6 (547 -> 546) server messages: a VM answering its neighbours' requests.
  if (pm.protocol == 17 && (pm.flags & kFlagL4) && !(pm.flags & kFlagLaterFragment) &&
      ((pm.sport == 67 && pm.dport == 68) || (pm.sport == 547 && pm.dport == 546)))
    return DropReason::kRouterGuard;
  (void)data;
  return DropReason::kNone;
}

Inspector::Verdict Worker::inspectPayload(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k, int dir,
                                          const PacketMeta& pm, const uint8_t* l4, size_t l4len, uint16_t in, size_t* plen,
                                          DropReason* why) {
  // The L4 header is complete here (the parser checked it, or the gathered datagram was).
  const size_t hdr = pm.protocol == 6 ? static_cast<size_t>((l4[12] >> 4) * 4) : 8;  // UDP, ICMP echo: 8
  // UDP: the datagram is what its length field says (checked against the IP length with the
  // checksum); bytes after it are not delivered, so they are not inspected either.
  if (pm.protocol == 17) l4len = std::min<size_t>(l4len, loadBe16(l4 + 4));
  *plen = l4len > hdr ? l4len - hdr : 0;
  // Every TCP segment goes to the normaliser (pure ACKs carry the windows it checks against).
  TcpSegment seg;
  if (pm.protocol == 6) parseTcpSegment(l4, hdr, *plen, &seg);
  else if (*plen == 0) return Inspector::kPass;
  const bool o = f.orig_is_a;
  inspect_events_.clear();
  Inspector::Verdict v = inspector_->packet(pol.inspectPlan(), pos, o ? k.addr_a : k.addr_b, o ? k.addr_b : k.addr_a, k.family,
                                            pm.protocol, dir, f.port[0], f.port[1], l4 + hdr, *plen,
                                            pm.protocol == 6 ? &seg : nullptr, inspect_events_, why);
  for (const auto& e : inspect_events_) {
    AlertRecord a{};
    a.kind = e.kind == InspectEvent::kFinding ? AlertRecord::kDataFinding
             : e.kind == InspectEvent::kGap   ? AlertRecord::kInspectionGap
             : e.kind == InspectEvent::kEvasion ? AlertRecord::kInspectionEvasion
                                              : AlertRecord::kInspectionOverload;
    a.family = pm.family;
    a.protocol = pm.protocol;
    a.port = static_cast<uint8_t>(in);
    a.policy_gen = pol.generation();
    a.sport = pm.sport;
    a.dport = pm.dport;
    std::memcpy(a.src, pm.src_ip, pm.family == 4 ? 4 : 16);
    std::memcpy(a.dst, pm.dst_ip, pm.family == 4 ? 4 : 16);
    std::memcpy(a.src_mac, pm.src_mac, 6);
    a.action = e.action;
    a.zone_src = e.zone_src;
    a.zone_dst = e.zone_dst;
    a.confidence_pct = static_cast<uint8_t>(e.confidence_pct);
    a.count = static_cast<uint32_t>(std::min<uint64_t>(e.count, UINT32_MAX));
    a.offset = e.offset;
    std::memcpy(a.masked, e.masked, sizeof a.masked);
    std::memcpy(a.class_name, e.class_name, sizeof a.class_name);
    enqueueAlert(a);
  }
  return v;
}

int Worker::inspect(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k, int dir, const PacketMeta& pm,
                    rte_mbuf* m, uint16_t in, uint64_t now) {
  if (inspector_->blocked(pos)) {
    drop(m, DropReason::kDataPolicy, in);
    return kInspectDropped;
  }
  // The first fragment of a datagram: the datagram is gathered and inspected when it is whole
  // (worker_frag.cc). A fragment that is the whole datagram (an IPv6 atomic fragment) is a packet.
  if ((pm.flags & kFlagFragment) && (pm.flags & kFlagMoreFragments)) return gatherFirst(f, k, dir, pm, m, in, now);
  // Receivers differ on IPv4 options (and drop bad ones): not passed unread.
  if (pm.family == 4 && (rte_pktmbuf_mtod(m, const uint8_t*)[pm.l3_offset] & 0x0f) != 5) {
    drop(m, DropReason::kIpOptionsInspected, in);
    return kInspectDropped;
  }
  normalizeHeaders(m, pm);
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->nb_segs > 1) {  // a chained mbuf (jumbo frame): inspect a linear copy of the whole packet
    if (linear_.size() < rte_pktmbuf_pkt_len(m)) linear_.resize(rte_pktmbuf_pkt_len(m));
    data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), linear_.data()));
    if (!data) return kInspectPass;
  }
  const size_t end = static_cast<size_t>(pm.l3_offset) + pm.l3_length;
  size_t plen = 0;
  DropReason refused = DropReason::kNone;
  const Inspector::Verdict v = inspectPayload(pol, pos, f, k, dir, pm, data + pm.l4_offset,
                                              end > pm.l4_offset ? end - pm.l4_offset : 0, in, &plen, &refused);
  if (v == Inspector::kPass) return kInspectPass;
  if (v == Inspector::kDrop) {  // this segment only: what its receiver would discard
    drop(m, refused, in);
    return kInspectDropped;
  }
  const DropReason why = v == Inspector::kBlock ? DropReason::kDataPolicy : DropReason::kInspectionGap;
  // The segment that completed the match never leaves. For TCP both sides are reset: the sender
  // by a new segment, the receiver by this one rewritten into a RST, so it goes out in its place
  // (after the segments before it, with the sequence number the receiver expects next).
  if (pm.protocol == 6 && m->nb_segs == 1) {
    sendReset(pm, m, plen, true, in);
    if (makeReset(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_mtod(m, const uint8_t*), pm, plen, false)) {
      rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - (pm.l4_offset + 20u)));
      ++drop_local_[static_cast<int>(why)];
      ++port_drop_local_[in];
      return kInspectReset;
    }
  }
  drop(m, why, in);
  return kInspectDropped;
}

// Cuts an ICMP / ICMPv6 error down to its quoted IP header and the first 8 bytes after it (RFC 792:
// what the sender needs to find the connection; path MTU discovery and TCP need no more), drops an
// RFC 4884 length (no extension follows any more), and fixes the lengths and checksums. False when
// the packet cannot be cut here (a chained mbuf): the caller drops it rather than pass it unread.
bool Worker::boundIcmpQuote(rte_mbuf* m, const PacketMeta& pm) {
  const uint32_t icmpLen = uint32_t{pm.l3_offset} + pm.l3_length - pm.l4_offset;
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t q = pm.l4_offset + 8u;
  const uint32_t innerHdr = pm.family == 4 ? (d[q] & 0x0fu) * 4u : 40u;
  const uint32_t keep = 8 + innerHdr + 8;
  if (icmpLen <= keep) return true;
  if (m->nb_segs > 1) return false;
  const uint32_t cut = icmpLen - keep;
  uint8_t* l3 = d + pm.l3_offset;
  uint8_t* icmp = d + pm.l4_offset;
  if (pm.family == 4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(pm.l3_length - cut));
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    // RFC 4884 length: destination unreachable, time exceeded, parameter problem only (a redirect
    // carries its gateway there).
    if (pm.icmp_type == 3 || pm.icmp_type == 11 || pm.icmp_type == 12) icmp[5] = 0;
  } else {
    const uint16_t payload = static_cast<uint16_t>((uint16_t{l3[4]} << 8 | l3[5]) - cut);
    l3[4] = static_cast<uint8_t>(payload >> 8);
    l3[5] = static_cast<uint8_t>(payload);
    if (pm.icmp_type == 1 || pm.icmp_type == 3) icmp[4] = 0;  // RFC 4884 length
  }
  icmp[2] = icmp[3] = 0;
  const uint16_t c = l4Checksum(pm.family, pm.protocol, pm.src_ip, pm.dst_ip, icmp, keep);
  icmp[2] = static_cast<uint8_t>(c >> 8);
  icmp[3] = static_cast<uint8_t>(c);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - (pm.l4_offset + keep)));
  bump(stats_.icmp_quotes_cut, 1);
  return true;
}

void Worker::normalizeHeaders(rte_mbuf* m, const PacketMeta& pm) {
  if (m->nb_segs > 1) return;
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* l3 = d + pm.l3_offset;
  bool l4dirty = false;
  // A hop limit too low to reach the receiver would let the switch read bytes the receiver never
  // gets (a router drops them first): raised to a floor, as Snort's normaliser does.
  if (pm.family == 4 && l3[8] < kInspectMinTtl) {
    l3[8] = kInspectMinTtl;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  } else if (pm.family == 6 && l3[7] < kInspectMinTtl) {
    l3[7] = kInspectMinTtl;
  }
  // Urgent data: Linux takes the urgent byte out of the stream; cleared, it stays in the stream
  // the switch inspects and the receiver reads.
  if (pm.protocol == 6 && !(pm.flags & kFlagFragment) && (pm.tcp_flags & kTcpUrg)) {
    uint8_t* tcp = d + pm.l4_offset;
    tcp[13] &= static_cast<uint8_t>(~kTcpUrg);
    tcp[18] = tcp[19] = 0;
    l4dirty = true;
  }
  if (l4dirty) {
    auto* th = reinterpret_cast<rte_tcp_hdr*>(d + pm.l4_offset);
    th->cksum = 0;
    const size_t len = static_cast<size_t>(pm.l3_offset) + pm.l3_length - pm.l4_offset;  // the frame may be padded
    th->cksum = rte_cpu_to_be_16(l4Checksum(pm.family, pm.protocol, pm.src_ip, pm.dst_ip, d + pm.l4_offset, len));
  }
}

// A TCP RST written into `d` from the headers of packet `s` (which may be `d` itself when not
// swapping): toward its receiver (same addresses, its sequence number), or back to its sender
// (addresses swapped, sequence = the packet's acknowledgement). False for headers not rebuilt here
// (IPv4 options, IPv6 extension headers).
bool Worker::makeReset(uint8_t* d, const uint8_t* s, const PacketMeta& pm, size_t payloadLen, bool toSender) {
  const uint8_t* sl3 = s + pm.l3_offset;
  if (pm.family == 4 ? (sl3[0] & 0xf) != 5 : pm.l4_offset != pm.l3_offset + 40) return false;
  uint8_t* l3 = d + pm.l3_offset;
  uint8_t* tcp = d + pm.l4_offset;
  const uint8_t* stcp = s + pm.l4_offset;
  uint32_t seq = loadBe32(stcp + 4), ack = loadBe32(stcp + 8);
  uint32_t segLen = static_cast<uint32_t>(payloadLen) + ((pm.tcp_flags & kTcpSyn) ? 1 : 0) + ((pm.tcp_flags & kTcpFin) ? 1 : 0);
  auto put32 = [](uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24), p[1] = static_cast<uint8_t>(v >> 16), p[2] = static_cast<uint8_t>(v >> 8),
    p[3] = static_cast<uint8_t>(v);
  };
  if (toSender) {
    std::memcpy(d, s + 6, 6);  // Ethernet: swapped
    std::memcpy(d + 6, s, 6);
    const int alen = pm.family == 4 ? 4 : 16;
    const size_t srcOff = pm.family == 4 ? 12 : 8;
    std::memcpy(l3 + srcOff, sl3 + srcOff + alen, alen);
    std::memcpy(l3 + srcOff + alen, sl3 + srcOff, alen);
    tcp[0] = stcp[2], tcp[1] = stcp[3], tcp[2] = stcp[0], tcp[3] = stcp[1];
    put32(tcp + 4, ack);
    put32(tcp + 8, seq + segLen);
  } else {
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
  }
  tcp[12] = 5 << 4;
  tcp[13] = kTcpRst | kTcpAck;
  for (int b = 14; b < 20; ++b) tcp[b] = 0;  // window, checksum (below), urgent pointer
  if (pm.family == 4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    ip->total_length = rte_cpu_to_be_16(40);
    ip->time_to_live = 64;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    reinterpret_cast<rte_tcp_hdr*>(tcp)->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  } else {
    auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(l3);
    ip6->payload_len = rte_cpu_to_be_16(20);
    ip6->hop_limits = 64;
    reinterpret_cast<rte_tcp_hdr*>(tcp)->cksum = rte_ipv6_udptcp_cksum(ip6, tcp);
  }
  return true;
}

void Worker::sendReset(const PacketMeta& pm, rte_mbuf* m, size_t payloadLen, bool toSender, uint16_t port) {
  if (!shared_->pool) return;
  rte_mbuf* r = rte_pktmbuf_alloc(shared_->pool);
  if (!r) return;
  auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(pm.l4_offset + 20u)));
  const uint8_t* s = rte_pktmbuf_mtod(m, const uint8_t*);
  if (!d) {
    rte_pktmbuf_free(r);
    return;
  }
  std::memcpy(d, s, pm.l4_offset + 20u);
  if (!makeReset(d, s, pm, payloadLen, toSender)) {
    rte_pktmbuf_free(r);
    return;
  }
  send(port, r);
}

void Worker::run() {
  rte_rcu_qsbr_thread_register(shared_->qsbr, id_);
  rte_rcu_qsbr_thread_online(shared_->qsbr, id_);
  if (shared_->secure) loop<true>();
  else loop<false>();
  flushTx();
  for (auto& h : held_)
    for (const auto& x : h) rte_pktmbuf_free(x.m);
  held_.clear();
  rte_rcu_qsbr_thread_offline(shared_->qsbr, id_);
  rte_rcu_qsbr_thread_unregister(shared_->qsbr, id_);
}

template <bool kSecure>
void Worker::loop() {
  rte_mbuf* pkts[kBurst];
  uint32_t iteration = 0;
  uint64_t idle = 0;
  uint64_t received = 0;
  const uint64_t maxPackets = shared_->max_packets ? shared_->max_packets : UINT64_MAX;
  const uint32_t nports = static_cast<uint32_t>(shared_->ports.size());
  const uint32_t allPorts = nports + (shared_->tunnel ? shared_->tunnel->peerCount() : 0);
  while (!shared_->stop->load(std::memory_order_relaxed)) {
    const CompiledPolicy* pol = shared_->policy->load(std::memory_order_acquire);
    uint64_t start = rte_rdtsc();
    uint32_t total = 0;
    for (uint32_t p = 0; p < nports && received < maxPackets; ++p) {
      uint16_t want = static_cast<uint16_t>(std::min<uint64_t>(kBurst, maxPackets - received));
      uint16_t n = rte_eth_rx_burst(shared_->ports[p], queue_, pkts, want);
      if (n == 0) continue;
      total += n;
      received += n;
      processBurst<kSecure>(*pol, static_cast<uint16_t>(p), pkts, n, start);
    }
    flushTx();
    // Drops are published with the iteration's packets, and also without any (held packets
    // expiring, say).
    if (total || drops_pending_) {
      drops_pending_ = false;
      for (int r = 0; r < static_cast<int>(DropReason::kCount); ++r) {
        if (drop_local_[r]) {
          bump(stats_.drops[r], drop_local_[r]);
          drop_local_[r] = 0;
        }
      }
      for (uint32_t p = 0; p < allPorts; ++p) {
        if (port_drop_local_[p]) {
          bump(stats_.ports[p].drops, port_drop_local_[p]);
          port_drop_local_[p] = 0;
        }
      }
      bump(stats_.packets, total);
    }
    if (total) idle = 0;
    else ++idle;
    if (kSecure && ++iteration % kAgeEvery == 0) age(*pol, start, kAgeBudget);
    if (kSecure && shared_->tunnel && id_ == 0) resolveNextHops(start);
    serveMailbox();
    stats_.flows_active.store(flows_->count(), std::memory_order_relaxed);
    stats_.idle_streak.store(idle, std::memory_order_relaxed);
    if (total) bump(stats_.busy_cycles, rte_rdtsc() - start);
    // The policy pointer is not used past this point: tell RCU this worker is quiescent.
    rte_rcu_qsbr_quiescent(shared_->qsbr, id_);
  }
}

template void Worker::loop<true>();
template void Worker::processBurst<true>(const CompiledPolicy&, uint16_t, rte_mbuf**, uint32_t, uint64_t);
template void Worker::loop<false>();

}  // namespace goldgate::dataplane

#include "worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstring>

#include "goldgate/common/endian.h"

namespace goldgate::dataplane {
namespace {

constexpr uint32_t kAgeEvery = 16;   // loop iterations between aging steps
constexpr uint32_t kAgeBudget = 32;  // flows looked at per aging step

uint16_t segOfPort(const CompiledPolicy& pol, int port) {
  if (port < 0) return kSegExternal;
  return pol.portSegment(static_cast<uint16_t>(port));
}

}  // namespace

Worker::Worker(uint32_t id, uint16_t queue, const WorkerShared* shared, std::unique_ptr<FlowTable> flows,
               rte_ring* alerts)
    : id_(id),
      queue_(queue),
      alerts_(alerts),
      shared_(shared),
      flows_(std::move(flows)),
      fdb_(4096, shared->tsc_hz * 300),
      frags_(shared->tsc_hz) {
  inspector_ = std::make_unique<Inspector>(flows_->capacity(), shared->inspect_max_flows, shared->inspect_hold_total);
  inspect_events_.reserve(64);
  trace_out_.reserve(kTraceMax);
}

// --- the loop ---

void Worker::attach() {
  rte_rcu_qsbr_thread_register(shared_->qsbr, id_);
  rte_rcu_qsbr_thread_online(shared_->qsbr, id_);
}

void Worker::detach() {
  flushTx();
  for (auto& h : tunnel_.held)
    for (const auto& x : h) rte_pktmbuf_free(x.m);
  tunnel_.held.clear();
  rte_rcu_qsbr_thread_offline(shared_->qsbr, id_);
  rte_rcu_qsbr_thread_unregister(shared_->qsbr, id_);
}

void Worker::run() {
  attach();
  if (shared_->secure) {
    while (!shared_->stop->load(std::memory_order_relaxed)) iterate<true>();
  } else {
    while (!shared_->stop->load(std::memory_order_relaxed)) iterate<false>();
  }
  detach();
}

uint32_t Worker::poll() { return shared_->secure ? iterate<true>() : iterate<false>(); }

template <bool kSecure>
uint32_t Worker::iterate() {
  const uint64_t maxPackets = shared_->max_packets ? shared_->max_packets : UINT64_MAX;
  const uint32_t nports = static_cast<uint32_t>(shared_->ports.size());
  const CompiledPolicy* pol = shared_->policy->load(std::memory_order_acquire);
  const uint64_t start = rte_rdtsc();
  uint32_t total = 0;
  for (uint32_t p = 0; p < nports && received_ < maxPackets; ++p) {
    const uint16_t want = static_cast<uint16_t>(std::min<uint64_t>(kBurst, maxPackets - received_));
    const uint16_t n = rte_eth_rx_burst(shared_->ports[p], queue_, burst_.pkts, want);
    if (n == 0) continue;
    total += n;
    received_ += n;
    burst_.reset(static_cast<uint16_t>(p), n, start);
    processBurst<kSecure>(*pol, burst_);
    // ESP from peers, opened: switched as from each peer's port, one burst per run of a peer.
    if (tunnel_.n_esp_in) {
      openEsp(*pol, start);
      while (nextOpened(decap_, start)) processBurst<true>(*pol, decap_);
    }
  }
  flushTx();
  publishDrops(total);
  if (total) idle_ = 0;
  else ++idle_;
  if (kSecure && ++iteration_ % kAgeEvery == 0) age(*pol, start, kAgeBudget);
  if (kSecure && shared_->tunnel && id_ == 0) resolveNextHops(start);
  serveMailbox();
  stats_.flows_active.store(flows_->count(), std::memory_order_relaxed);
  stats_.idle_streak.store(idle_, std::memory_order_relaxed);
  if (total) publishInspection();
  if (total) bump(stats_.busy_cycles, rte_rdtsc() - start);
  // The policy pointer is not used past this point: tell RCU this worker is quiescent.
  rte_rcu_qsbr_quiescent(shared_->qsbr, id_);
  return total;
}

// Drops are published with the iteration's packets, and also without any (held packets
// expiring, say).
void Worker::publishInspection() {
  if (!inspector_) return;
  const auto set = [](std::atomic<uint64_t>& a, uint64_t v) { a.store(v, std::memory_order_relaxed); };
  set(stats_.inspect_flows, inspector_->active());
  set(stats_.inspect_flows_peak, inspector_->activePeak());
  set(stats_.inspect_bytes, inspector_->bytesInspected());
  set(stats_.inspect_decoded_bytes, inspector_->bytesDecoded());
  set(stats_.decode_memory, inspector_->decodeMemory());
  set(stats_.decode_memory_peak, inspector_->decodeMemoryPeak());
}

void Worker::publishDrops(uint32_t received) {
  if (!received && !drops_pending_) return;
  drops_pending_ = false;
  for (int r = 0; r < static_cast<int>(DropReason::kCount); ++r) {
    if (drop_local_[r]) {
      bump(stats_.drops[r], drop_local_[r]);
      drop_local_[r] = 0;
    }
  }
  const uint32_t allPorts =
      static_cast<uint32_t>(shared_->ports.size()) + (shared_->tunnel ? shared_->tunnel->peerCount() : 0);
  for (uint32_t p = 0; p < allPorts; ++p) {
    if (port_drop_local_[p]) {
      bump(stats_.ports[p].drops, port_drop_local_[p]);
      port_drop_local_[p] = 0;
      for (int r = 0; r < static_cast<int>(DropReason::kCount); ++r) {
        if (port_reason_local_[p][r]) {
          bump(stats_.port_drops[p][r], port_reason_local_[p][r]);
          port_reason_local_[p][r] = 0;
        }
      }
    }
  }
  bump(stats_.packets, received);
}

// --- the passes ---

template <bool kSecure>
void Worker::processBurst(const CompiledPolicy& pol, Burst& b) {
  uint64_t rxBytes = 0;
  for (uint32_t i = 0; i < b.n; ++i) rxBytes += rte_pktmbuf_pkt_len(b.pkts[i]);
  bump(stats_.ports[b.in].rx_packets, b.n);
  bump(stats_.ports[b.in].rx_bytes, rxBytes);
  b.tracing = trace_left_ != 0 && trace_filter_.port == b.in;
  if (kSecure && !pol.isUplink(b.in) && pol.portSegment(b.in) == kSegUnassigned) {
    for (uint32_t i = 0; i < b.n; ++i) {
      if (b.tracing) {
        PacketMeta pm;
        const auto* d = rte_pktmbuf_mtod(b.pkts[i], const uint8_t*);
        const bool ok = parsePacket(d, rte_pktmbuf_data_len(b.pkts[i]), &pm) == DropReason::kNone;
        traceBegin(b, i, ok ? &pm : nullptr, rte_pktmbuf_pkt_len(b.pkts[i]));
      }
      drop(b.pkts[i], DropReason::kPortClosed, b.in);
    }
    if (trace_cur_) traceFinish(b);
    return;
  }
  parseAndSwitchL2<kSecure>(pol, b);
  if (b.nkeys) {
    lookupFlows(pol, b);
    if (b.nmiss) admitNewFlows(pol, b);
    forward(b);
  }
  if (b.nlater) followFragments(pol, b);
  if (trace_cur_) traceFinish(b);
}

// Pass 1: parse, checksums, guards, anti-spoofing, L2 decisions; collects the flow keys of IP
// packets.
template <bool kSecure>
void Worker::parseAndSwitchL2(const CompiledPolicy& pol, Burst& b) {
  const uint16_t in = b.in;
  const uint64_t now = b.now;
  rte_mbuf** pkts = b.pkts;
  const bool inUplink = pol.isUplink(in);
  const bool inUnderlay = shared_->tunnel && in == shared_->tunnel->uplink();
  const PortBinding& bind = pol.port(in);
  const uint32_t allPorts = (shared_->ports.size() >= 32 ? ~0u : (1u << shared_->ports.size()) - 1);
  const uint32_t floodMask = kSecure ? pol.floodMask(in) : allPorts & ~(1u << in);
  // Counted here, stored in the burst at the end: the flow keys are written byte-wise, which
  // would make the compiler reload any counter kept in the burst after each of them.
  uint32_t nkeys = 0, nlater = 0, related = 0;
  for (uint32_t i = 0; i < b.n; ++i) {
    rte_mbuf* m = pkts[i];
    b.out[i] = -1;
    PacketMeta& pm = b.meta[i];
    DropReason r = parsePacket(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), &pm);
    if (b.tracing) traceBegin(b, i, r == DropReason::kNone ? &pm : nullptr, rte_pktmbuf_pkt_len(m));
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
    // The output port of a tracked connection comes from its flow entry (lookupFlows); only new
    // connections look the destination MAC up (admitNewFlows).
    if (pm.flags & kFlagLaterFragment) {
      // Decided after the burst's first fragments have been admitted (followFragments).
      b.later[nlater++] = static_cast<uint8_t>(i);
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
      b.src_is_a[nkeys] = makeFlowKey(quoted, &b.keys[nkeys]);
      related |= 1u << nkeys;
    } else {
      b.src_is_a[nkeys] = makeFlowKey(pm, &b.keys[nkeys]);
    }
    b.key_ptrs[nkeys] = &b.keys[nkeys];
    b.key_idx[nkeys] = static_cast<uint8_t>(i);
    ++nkeys;
  }
  b.nkeys = nkeys;
  b.nlater = nlater;
  b.related = related;
}

// Pass 2: tracked connections, found in one bulk lookup.
void Worker::lookupFlows(const CompiledPolicy& pol, Burst& b) {
  const uint16_t in = b.in;
  rte_mbuf** pkts = b.pkts;
  const uint32_t nkeys = b.nkeys;
  uint32_t nmiss = 0;
  flows_->lookupBulk(b.key_ptrs, nkeys, b.pos);
  // Flow records are touched next: start loading them all before the first is needed.
  for (uint32_t j = 0; j < nkeys; ++j)
    if (b.pos[j] >= 0) rte_prefetch0(&flows_->at(b.pos[j]));
  const bool inspecting = pol.inspectPlan() != nullptr;
  for (uint32_t j = 0; j < nkeys; ++j) {
    const uint32_t i = b.key_idx[j];
    const PacketMeta& pm = b.meta[i];
    const bool isRelated = (b.related >> j) & 1;
    // Inspection reads every payload byte: start loading the next packet's, and its flow's
    // inspection state, while this one is scanned.
    if (inspecting && j + 1 < nkeys) {
      const rte_mbuf* next = pkts[b.key_idx[j + 1]];
      const auto* d = rte_pktmbuf_mtod(next, const uint8_t*);
      const uint32_t upTo = std::min<uint32_t>(rte_pktmbuf_data_len(next), 2048);  // the rest streams in behind
      for (uint32_t off = 0; off < upTo; off += 64) rte_prefetch0(d + off);
      if (b.pos[j + 1] >= 0) {
        const Flow& nf = flows_->at(b.pos[j + 1]);
        inspector_->prefetch(b.pos[j + 1], b.src_is_a[j + 1] == nf.orig_is_a ? 0 : 1);
      }
    }
    if (b.pos[j] < 0) {
      if (isRelated) {
        drop(pkts[i], DropReason::kIcmpUnrelated, in);
        pkts[i] = nullptr;
        continue;
      }
      traceStep(i, TraceKind::kFlowMiss);
      b.miss[nmiss++] = j;
      continue;
    }
    Flow& f = flows_->at(b.pos[j]);
    traceStep(i, TraceKind::kFlowHit, static_cast<uint8_t>(f.state), 0, f.rule, f.policy_gen);
    // For an ICMP error, `dir` is the direction of the quoted packet; the error itself comes from
    // that packet's destination side.
    const int dir = (b.src_is_a[j] == f.orig_is_a) ? 0 : 1;
    const int arrival = isRelated ? dir ^ 1 : dir;
    if (!isRelated && pm.protocol == 6 && tcpOpens(pm.tcp_flags) && tcpReusable(f)) {
      // A new connection on the 4-tuple of a closed one: decided afresh by the policy.
      traceStep(i, TraceKind::kFlowReopened);
      removeFlow(b.pos[j]);
      b.miss[nmiss++] = j;
      continue;
    }
    // A packet of a tracked connection must come from the port its side of the connection is on:
    // otherwise a sender elsewhere (e.g. behind the uplink) could ride an admitted connection.
    if (in != f.port[arrival]) {
      drop(pkts[i], DropReason::kWrongPort, in);
      pkts[i] = nullptr;
      continue;
    }
    if (f.policy_gen != pol.generation()) {
      if (!revalidate(pol, f, b.keys[j])) {
        alertFlow(AlertRecord::kFlowCut, b.keys[j], f, pol.generation());
        removeFlow(b.pos[j]);
        bump(stats_.flows_cut, 1);
        drop(pkts[i], DropReason::kFlowCut, in);
        pkts[i] = nullptr;
        continue;
      }
      traceStep(i, TraceKind::kFlowRevalidated, 0, 0, f.rule);
    }
    if (isRelated) {
      b.out[i] = f.port[dir];  // back to the quoted packet's sender; the connection's state is unchanged
      // Under inspection an error carries no more than an error needs: what it quotes could
      // otherwise carry any payload past inspection.
      if (pol.inspectPlan() && pol.inspectPlan()->inspects(in, f.port[dir]) && !boundIcmpQuote(pkts[i], pm)) {
        drop(pkts[i], DropReason::kUninspectedProtocol, in);
        pkts[i] = nullptr;
      }
      continue;
    }
    if (accountAndInspect(pol, b, i, b.pos[j], f, b.keys[j], dir)) b.out[i] = f.port[dir ^ 1];
  }
  b.nmiss = nmiss;
}

// Pass 3: new connections, classified in one ACL call per family; the allowed get a flow entry.
void Worker::admitNewFlows(const CompiledPolicy& pol, Burst& b) {
  const uint16_t in = b.in;
  const uint64_t now = b.now;
  rte_mbuf** pkts = b.pkts;
  const uint64_t t0 = rte_rdtsc();
  AclKey4 k4[kBurst];
  AclKey6 k6[kBurst];
  const uint8_t* p4[kBurst];
  const uint8_t* p6[kBurst];
  uint32_t r4[kBurst], r6[kBurst];
  uint32_t m4[kBurst], m6[kBurst];
  uint32_t n4 = 0, n6 = 0;
  const uint16_t srcSeg = pol.portSegment(in);
  for (uint32_t x = 0; x < b.nmiss; ++x) {
    const uint32_t j = b.miss[x];
    const uint32_t i = b.key_idx[j];
    const PacketMeta& pm = b.meta[i];
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
    const int o = outPortFor(pol, pm.dst_mac, in, now, pm.family, pm.dst_ip);
    if (o < 0 || o == in) {
      drop(pkts[i], o < 0 ? DropReason::kUnknownDestination : DropReason::kHairpin, in);
      pkts[i] = nullptr;
      continue;
    }
    b.out[i] = static_cast<int16_t>(o);
    traceStep(i, TraceKind::kDestination, 0, static_cast<uint16_t>(o));
    const uint16_t dstSeg =
        pol.isUplink(static_cast<uint16_t>(o)) ? kSegExternal : pol.portSegment(static_cast<uint16_t>(o));
    if (pm.family == 4) {
      aclKeyFromFlow(b.keys[j], b.src_is_a[j], srcSeg, dstSeg, &k4[n4], nullptr);
      p4[n4] = reinterpret_cast<const uint8_t*>(&k4[n4]);
      m4[n4++] = x;
    } else {
      aclKeyFromFlow(b.keys[j], b.src_is_a[j], srcSeg, dstSeg, nullptr, &k6[n6]);
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
  for (uint32_t x = 0; x < b.nmiss; ++x) {
    const uint32_t j = b.miss[x];
    const uint32_t i = b.key_idx[j];
    if (!pkts[i]) continue;
    const PacketMeta& pm = b.meta[i];
    const uint32_t rule = rules[x];
    traceStep(i, TraceKind::kRule, pol.ruleAllows(rule) ? 1 : 0, 0, rule);
    // A hit is a decision: each denied packet, and each connection admitted (not each packet of
    // a burst that opens the same connection more than once).
    if (!pol.ruleAllows(rule)) {
      pol.countHit(id_, rule);
      if (pol.ruleLogs(rule)) alert(AlertRecord::kDeny, pm, in, rule, gen);
      drop(pkts[i], DropReason::kPolicyDeny, in);
      pkts[i] = nullptr;
      continue;
    }
    // Under inspection, a protocol whose payload the switch cannot read is refused unless the
    // rule admitting it says `uninspected: true`: nothing that carries payload passes unread.
    if (pol.inspectPlan() && !readable(pm) && !pol.ruleUninspected(rule) &&
        pol.inspectPlan()->inspects(in, static_cast<uint16_t>(b.out[i]))) {
      drop(pkts[i], DropReason::kUninspectedProtocol, in);
      pkts[i] = nullptr;
      continue;
    }
    // A VM port's share of the table: past it, its own new connections are refused (fail
    // closed), never another VM's.
    const bool overShare = !pol.isUplink(in) && port_flows_[in] >= shared_->port_flow_limit;
    const int32_t p = overShare ? -1 : flows_->insert(b.keys[j]);
    if (p < 0) {
      alert(AlertRecord::kFlowTableFull, pm, in, rule, gen);
      drop(pkts[i], overShare ? DropReason::kPortFlowLimit : DropReason::kFlowTableFull, in);
      pkts[i] = nullptr;
      continue;
    }
    Flow& f = flows_->at(p);
    if (f.created_tsc == 0) {  // else an earlier packet of this burst created it
      f.created_tsc = now;
      f.policy_gen = gen;
      f.rule = rule;
      f.state = initialState(pm.protocol);
      f.orig_is_a = b.src_is_a[j];
      f.port[0] = static_cast<uint8_t>(in);
      f.port[1] = static_cast<uint8_t>(b.out[i]);
      pol.countHit(id_, rule);
      traceStep(i, TraceKind::kFlowCreated);
      ++port_flows_[in];
      bump(stats_.flows_created, 1);
      if (pol.ruleLogs(rule)) alert(AlertRecord::kAllowLog, pm, in, rule, gen);
    }
    accountAndInspect(pol, b, i, p, f, b.keys[j], (b.src_is_a[j] == f.orig_is_a) ? 0 : 1);
  }
  bump(stats_.new_flow_cycles, rte_rdtsc() - t0);
}

inline bool Worker::accountAndInspect(const CompiledPolicy& pol, Burst& b, uint32_t i, int32_t pos, Flow& f,
                                      const FlowKey& k, int dir) {
  rte_mbuf* m = b.pkts[i];
  const PacketMeta& pm = b.meta[i];
  if (pol.inspectPlan() && readable(pm)) {
    const int r = inspect(pol, pos, f, k, dir, pm, m, b.in, b.now);
    traceStep(i, TraceKind::kInspected, static_cast<uint8_t>(r == kInspectPass ? 0 : r == kInspectDropped ? 1 : 2));
    if (r == kInspectDropped) b.pkts[i] = nullptr;
    if (r == kInspectReset) b.out[i] = f.port[dir ^ 1];
    if (r != kInspectPass) return false;
  }
  trackPacket(f, dir, pm.protocol, pm.tcp_flags);
  f.last_tsc = b.now;
  ++f.packets[dir];
  f.bytes[dir] += rte_pktmbuf_pkt_len(m);
  return true;
}

// Pass 4: forward in arrival order.
void Worker::forward(Burst& b) {
  for (uint32_t j = 0; j < b.nkeys; ++j) {
    const uint32_t i = b.key_idx[j];
    rte_mbuf* m = b.pkts[i];
    if (!m) continue;
    if (b.meta[i].flags & kFlagFragment) {
      // A first fragment that passed: its later fragments follow it (pass 5).
      FragEntry* fe = frags_.claim(b.meta[i], b.now);
      if (!fe) {  // every entry it could take holds a datagram still being gathered
        drop(m, DropReason::kFragmentUninspected, b.in);
        continue;
      }
      fe->out_port = static_cast<uint8_t>(b.out[i]);
      fe->valid = 1;
      fe->tsc = b.now;
    }
    send(static_cast<uint16_t>(b.out[i]), m);
  }
}

// Pass 5: later fragments follow the verdict of their first fragment.
void Worker::followFragments(const CompiledPolicy& pol, Burst& b) {
  for (uint32_t x = 0; x < b.nlater; ++x) {
    const uint32_t i = b.later[x];
    const PacketMeta& pm = b.meta[i];
    FragEntry* fe = frags_.find(pm, b.now);
    if (fe && fe->valid) {
      fe->tsc = b.now;
      // Of an inspected connection: gathered, and the fragment that completes the datagram is
      // held until the datagram has been inspected.
      traceStep(i, TraceKind::kFragmentFollows, 0, fe->out_port);
      if (fe->gather && gatherLater(pol, *fe, pm, b.pkts[i], b.in, b.now) != kInspectPass) continue;
      send(fe->out_port, b.pkts[i]);
    } else {
      drop(b.pkts[i], DropReason::kFragmentNoFlow, b.in);
    }
  }
}

// --- output ---

void Worker::drop(rte_mbuf* m, DropReason r, uint16_t in) {
  if (__builtin_expect(trace_cur_ != 0, 0)) traceMbuf(m, TraceKind::kDrop, in, static_cast<uint32_t>(r));
  countDrop(r, in);
  rte_pktmbuf_free(m);
}

void Worker::send(uint16_t port, rte_mbuf* m) {
  if (__builtin_expect(trace_cur_ != 0, 0)) traceMbuf(m, TraceKind::kOutput, port, 0);
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
    for (uint32_t i = 0; i < shared_->tunnel->peerCount(); ++i) {
      // Held packets (peer_down: wait) are looked at even when nothing new is queued.
      if (tx_[shared_->tunnel->peer(i).port].n || (i < tunnel_.held.size() && !tunnel_.held[i].empty())) sealPending(i);
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

// --- alerts ---

void Worker::enqueueAlert(const AlertRecord& a) {
  // A data-policy quarantine is a response: it goes by its own path, which cannot be lost.
  if (a.kind == AlertRecord::kDataFinding && a.action == static_cast<uint8_t>(datapolicy::Action::kQuarantine) &&
      a.port < 32)
    quarantine_requests_.fetch_or(1u << a.port, std::memory_order_release);
  // What any sender can raise at will (a denied or spoofed packet, a full flow table) is limited
  // per port and kept to half the ring, so a flooding VM cannot crowd out another VM's data
  // findings: those, gaps and tunnel events take the rest.
  const bool low = a.kind == AlertRecord::kDeny || a.kind == AlertRecord::kAllowLog ||
                   a.kind == AlertRecord::kSpoofMac || a.kind == AlertRecord::kSpoofIp ||
                   a.kind == AlertRecord::kFlowTableFull;
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

// --- connection tracking ---

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
  if (mailbox_.cmd != Mailbox::Cmd::kDumpFlows && mailbox_.cmd != Mailbox::Cmd::kFlushPort) {
    serveTrace(mailbox_);
  } else if (mailbox_.cmd == Mailbox::Cmd::kFlushPort) {
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
      if (mailbox_.out->size() < mailbox_.out->capacity())
        mailbox_.out->push_back(FlowSnapshot{*key, f, inspector_->classesSeen(pos)});
    }
    mailbox_.matched = matched;
  }
  mailbox_.state.store(Mailbox::State::kDone, std::memory_order_release);
}

void Worker::removeFlow(int32_t pos) {
  const Flow& f = flows_->at(pos);
  if (f.created_tsc && f.port[0] < kMaxPorts && port_flows_[f.port[0]]) --port_flows_[f.port[0]];
  inspector_->release(pos);
  flows_->remove(pos);
}

template uint32_t Worker::iterate<true>();
template uint32_t Worker::iterate<false>();

}  // namespace goldgate::dataplane

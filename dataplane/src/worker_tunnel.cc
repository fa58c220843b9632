// The forwarding worker's tunnel path: ESP sealing toward peer gateways, opening what they send,
// the underlay's ARP / ND, the router address VMs use for zones behind peers, and ICMP "too big"
// for packets that no longer fit once sealed.
#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "goldgate/common/endian.h"
#include "worker.h"

namespace goldgate::dataplane {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd, kEthArp = 0x0806;
constexpr size_t kEth = 14;

void putMac(uint8_t* d, uint64_t mac) {
  for (int i = 0; i < 6; ++i) d[i] = static_cast<uint8_t>(mac >> (40 - 8 * i));
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
uint8_t tosOf(const uint8_t* ip) {
  return (ip[0] >> 4) == 4 ? ip[1] : static_cast<uint8_t>((loadBe32(ip) >> 20) & 0xff);
}

void setIpv4Checksum(uint8_t* ip) {
  auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
  h->hdr_checksum = 0;
  h->hdr_checksum = rte_ipv4_cksum(h);
}

// An IPv4 header without options.
void writeIpv4(uint8_t* ip, uint8_t tos, uint16_t total, bool df, uint8_t proto, const uint8_t* src,
               const uint8_t* dst) {
  ip[0] = 0x45;
  ip[1] = tos;
  put16(ip + 2, total);
  put16(ip + 4, 0);
  put16(ip + 6, df ? 0x4000 : 0);
  ip[8] = 64;
  ip[9] = proto;
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  setIpv4Checksum(ip);
}

void writeIpv6(uint8_t* ip, uint8_t tc, uint16_t payload, uint8_t next, uint8_t hops, const uint8_t* src,
               const uint8_t* dst) {
  put32(ip, (6u << 28) | (uint32_t{tc} << 20));
  put16(ip + 4, payload);
  ip[6] = next;
  ip[7] = hops;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
}

void icmp6Checksum(uint8_t* ip6) {
  uint8_t* l4 = ip6 + 40;
  l4[2] = l4[3] = 0;
  uint16_t c = rte_ipv6_udptcp_cksum(reinterpret_cast<rte_ipv6_hdr*>(ip6), l4);
  std::memcpy(l4 + 2, &c, 2);
}

// A neighbour advertisement for `target` with our link-layer address, written over the
// solicitation at `d` (Ethernet start) and sent back to its sender. Returns the frame length.
size_t writeNeighborAdvert(uint8_t* d, const uint8_t* target, uint64_t mac, bool router) {
  uint8_t dstMac[6], dstIp[16], tgt[16];
  std::memcpy(dstMac, d + 6, 6);
  std::memcpy(dstIp, d + kEth + 8, 16);
  std::memcpy(tgt, target, 16);
  std::memcpy(d, dstMac, 6);
  putMac(d + 6, mac);
  put16(d + 12, kEthIpv6);
  uint8_t* ip = d + kEth;
  writeIpv6(ip, 0, 32, 58, 255, tgt, dstIp);
  uint8_t* icmp = ip + 40;
  icmp[0] = 136;
  icmp[1] = 0;
  put32(icmp + 4, (router ? 0x80000000u : 0) | 0x40000000u | 0x20000000u);  // R, S, O
  std::memcpy(icmp + 8, tgt, 16);
  icmp[24] = 2;  // target link-layer address option
  icmp[25] = 1;
  putMac(icmp + 26, mac);
  icmp6Checksum(ip);
  return kEth + 40 + 32;
}

// An ARP reply "ip is at mac" written over the request at `d` (Ethernet start).
void writeArpReply(uint8_t* d, const uint8_t* ip, uint64_t mac) {
  uint8_t* a = d + kEth;
  uint8_t sha[6], spa[4], tpa[4];
  std::memcpy(sha, a + 8, 6);
  std::memcpy(spa, a + 14, 4);
  std::memcpy(tpa, ip, 4);
  std::memcpy(d, sha, 6);
  putMac(d + 6, mac);
  put16(a + 6, 2);
  putMac(a + 8, mac);
  std::memcpy(a + 14, tpa, 4);
  std::memcpy(a + 18, sha, 6);
  std::memcpy(a + 24, spa, 4);
}

bool isZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

}  // namespace

void Worker::learnNeighbor(uint8_t family, const uint8_t* ip, const uint8_t* mac, uint64_t now) {
  Tunnel& t = *shared_->tunnel;
  const size_t alen = family == 4 ? 4 : 16;
  for (uint32_t i = 0; i < t.peerCount(); ++i) {
    TunnelPeer& p = t.peer(i);
    if (p.static_mac || p.family != family || std::memcmp(p.next_hop, ip, alen) != 0) continue;
    p.next_hop_mac.store(macOf(mac), std::memory_order_relaxed);
    p.resolved_tsc.store(now, std::memory_order_relaxed);
  }
}

bool Worker::underlayInput(rte_mbuf* m, const PacketMeta& pm, uint64_t now) {
  Tunnel& t = *shared_->tunnel;
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  const uint16_t up = t.uplink();
  if (pm.flags & kFlagArp) {
    const uint8_t* a = pm.arp_sender_mac - 8;
    if (!t.hasIpv4() || std::memcmp(a + 24, t.ipv4(), 4) != 0) return false;  // not for us: switched as before
    const uint16_t op = loadBe16(a + 6);
    learnNeighbor(4, a + 14, a + 8, now);
    if (op == 1 && !(a[8] & 1)) {
      writeArpReply(d, t.ipv4(), t.underlayMac());
      send(up, m);
    } else {
      rte_pktmbuf_free(m);
    }
    return true;
  }
  if (pm.family == 6 && (pm.flags & kFlagNd) && t.hasIpv6()) {
    const uint8_t* icmp = d + pm.l4_offset;
    const size_t avail = pm.l3_offset + pm.l3_length - pm.l4_offset;
    if ((pm.icmp_type != 135 && pm.icmp_type != 136) || avail < 24) return false;
    const uint8_t* target = icmp + 8;
    // The link-layer address option: source (1) in a solicitation, target (2) in an advertisement.
    const uint8_t* lla = nullptr;
    for (size_t o = 24; o + 8 <= avail && icmp[o + 1] != 0; o += icmp[o + 1] * 8u)
      if (icmp[o] == (pm.icmp_type == 135 ? 1 : 2) && icmp[o + 1] == 1) lla = icmp + o + 2;
    if (pm.icmp_type == 136) {
      bool ours = false;
      for (uint32_t i = 0; i < t.peerCount(); ++i)
        ours = ours || (t.peer(i).family == 6 && std::memcmp(t.peer(i).next_hop, target, 16) == 0);
      if (!ours) return false;
      if (lla) learnNeighbor(6, target, lla, now);
      rte_pktmbuf_free(m);
      return true;
    }
    if (std::memcmp(target, t.ipv6(), 16) != 0) return false;
    if (lla) learnNeighbor(6, pm.src_ip, lla, now);
    if (isZero(pm.src_ip, 16) || m->nb_segs != 1) {  // duplicate address detection by someone else: not answered
      rte_pktmbuf_free(m);
      return true;
    }
    const size_t need = kEth + 40 + 32;
    if (rte_pktmbuf_data_len(m) < need &&
        !rte_pktmbuf_append(m, static_cast<uint16_t>(need - rte_pktmbuf_data_len(m)))) {
      rte_pktmbuf_free(m);
      return true;
    }
    uint8_t tgt[16];
    std::memcpy(tgt, target, 16);
    writeNeighborAdvert(d, tgt, t.underlayMac(), false);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - need));
    send(up, m);
    return true;
  }
  const bool toUs = pm.family == 4   ? t.hasIpv4() && std::memcmp(pm.dst_ip, t.ipv4(), 4) == 0
                    : pm.family == 6 ? t.hasIpv6() && std::memcmp(pm.dst_ip, t.ipv6(), 16) == 0
                                     : false;
  if (!toUs) return false;
  if (pm.protocol == 50 && !(pm.flags & kFlagFragment) && tunnel_.n_esp_in < kBurst) {
    tunnel_.esp_in[tunnel_.n_esp_in++] = m;
    return true;
  }
  // The outer header is sent with DF: fragments of ESP, or anything else to this address, are refused.
  const DropReason why = pm.protocol == 50 ? DropReason::kEspMalformed : DropReason::kUnderlayOther;
  drop(m, why, up);
  tunnelAlert(why, pm.src_ip, pm.family, now);
  return true;
}

void Worker::tunnelAlert(DropReason why, const uint8_t* outerSrc, uint8_t family, uint64_t now) {
  // At most ten records a second per reason and worker: a flood of forged packets is counted in
  // the drop counters, and reported in aggregate rather than packet by packet.
  const int r = static_cast<int>(why);
  if (now - tunnel_.alert_tsc[r] < shared_->tsc_hz / 10) {
    ++tunnel_.alert_suppressed[r];
    return;
  }
  AlertRecord a{};
  a.kind = AlertRecord::kTunnelDrop;
  a.rule = static_cast<uint32_t>(r);
  a.family = family;
  a.protocol = 50;
  a.port = static_cast<uint8_t>(shared_->tunnel->uplink());
  std::memcpy(a.src, outerSrc, family == 4 ? 4 : 16);
  a.count = tunnel_.alert_suppressed[r] + 1;
  enqueueAlert(a);
  tunnel_.alert_tsc[r] = now;
  tunnel_.alert_suppressed[r] = 0;
}

void Worker::openEsp(const CompiledPolicy& pol, uint64_t now) {
  Tunnel& t = *shared_->tunnel;
  const uint16_t up = t.uplink();
  const uint32_t n = tunnel_.n_esp_in;
  tunnel_.n_esp_in = 0;
  tunnel_.n_opened = tunnel_.next_opened = 0;
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = tunnel_.esp_in[i];
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    PacketMeta pm;
    if (parsePacket(d, rte_pktmbuf_data_len(m), &pm) != DropReason::kNone || m->nb_segs != 1) {
      drop(m, DropReason::kEspMalformed, up);
      continue;
    }
    const size_t alen = pm.family == 4 ? 4 : 16;
    uint8_t* esp = d + pm.l4_offset;
    const size_t espLen = pm.l3_offset + pm.l3_length - pm.l4_offset;
    InboundSa* sa = t.inbound(crypto::espSpi(esp, espLen));
    if (!sa || t.peer(sa->peer).family != pm.family || std::memcmp(t.peer(sa->peer).remote, pm.src_ip, alen) != 0) {
      drop(m, DropReason::kEspUnknownSa, up);
      tunnelAlert(DropReason::kEspUnknownSa, pm.src_ip, pm.family, now);
      continue;
    }
    TunnelPeer& peer = t.peer(sa->peer);
    crypto::EspOpened o;
    rte_spinlock_lock(&sa->lock);
    crypto::EspError err = crypto::espOpen(*sa->gcm[id_], sa->salt, sa->esn, sa->window, esp, espLen, &o);
    rte_spinlock_unlock(&sa->lock);
    DropReason why = DropReason::kNone;
    if (err == crypto::EspError::kReplay) why = DropReason::kEspReplay;
    else if (err == crypto::EspError::kAuthentication) why = DropReason::kEspAuthentication;
    else if (err != crypto::EspError::kNone) why = DropReason::kEspMalformed;
    else if (o.inner_len < (o.next_header == crypto::kNextHeaderIpv4 ? 20u : 40u) ||
             (o.inner[0] >> 4) != (o.next_header == crypto::kNextHeaderIpv4 ? 4 : 6))
      why = DropReason::kEspMalformed;
    int tos = why == DropReason::kNone ? crypto::innerTosAfterDecap(tosOf(d + pm.l3_offset), tosOf(o.inner)) : 0;
    if (tos < 0) why = DropReason::kEspMalformed;
    if (why != DropReason::kNone) {
      drop(m, why, up);
      tunnelAlert(why, pm.src_ip, pm.family, now);
      continue;
    }
    const bool v4 = o.next_header == crypto::kNextHeaderIpv4;
    if (tos != tosOf(o.inner)) {
      if (v4) {
        o.inner[1] = static_cast<uint8_t>(tos);
        setIpv4Checksum(o.inner);
      } else {
        put32(o.inner, (loadBe32(o.inner) & 0xf00fffffu) | (uint32_t{static_cast<uint8_t>(tos)} << 20));
      }
    }
    // The inner packet gets an Ethernet header from the router toward the VM that owns its
    // destination; a destination no VM port binds is counted on the peer's port.
    // (A VM port needs both its ips and its mac bound: the frame is addressed to that MAC.)
    int vm = pol.portForIp(v4 ? 4 : 6, o.inner + (v4 ? 16 : 24));
    if (vm >= 0 && pol.port(static_cast<uint16_t>(vm)).mac == 0) vm = -1;
    uint8_t* eth = o.inner - kEth;
    putMac(eth, vm >= 0 ? pol.port(static_cast<uint16_t>(vm)).mac : 0);
    putMac(eth + 6, pol.routerMac());
    put16(eth + 12, v4 ? kEthIpv4 : kEthIpv6);
    rte_pktmbuf_adj(m, static_cast<uint16_t>(eth - d));
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - (kEth + o.inner_len)));
    m->port = RTE_MBUF_PORT_INVALID;  // came out of a tunnel: no ICMP goes back raw on the underlay
    m->ol_flags = 0;
    peer.rx_packets.add(1);
    peer.rx_bytes.add(o.inner_len);
    sa->packets.fetch_add(1, std::memory_order_relaxed);
    if (vm < 0) {
      drop(m, DropReason::kUnknownDestination, peer.port);
      continue;
    }
    tunnel_.opened_port[tunnel_.n_opened] = peer.port;
    tunnel_.opened[tunnel_.n_opened++] = m;
  }
}

bool Worker::nextOpened(Burst& b, uint64_t now) {
  TunnelPath& t = tunnel_;
  if (t.next_opened == t.n_opened) return false;
  const uint16_t port = t.opened_port[t.next_opened];
  uint32_t n = 0;
  while (t.next_opened < t.n_opened && t.opened_port[t.next_opened] == port) b.pkts[n++] = t.opened[t.next_opened++];
  b.reset(port, n, now);
  return true;
}

bool Worker::answerForRouter(const CompiledPolicy& pol, rte_mbuf* m, const PacketMeta& pm, uint16_t in) {
  const TunnelConfig& tc = shared_->tunnel->config();
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  if (pm.flags & kFlagArp) {
    const uint8_t* a = pm.arp_sender_mac - 8;
    if (loadBe16(a + 6) != 1 || pm.vlan) return false;
    const uint8_t* tpa = a + 24;
    const bool mine =
        (tc.router_ipv4 && std::memcmp(tpa, tc.router_ipv4->bytes.data(), 4) == 0) || pol.tunnelPortFor(4, tpa) >= 0;
    if (!mine) return false;
    uint8_t ip[4];
    std::memcpy(ip, tpa, 4);
    writeArpReply(d, ip, pol.routerMac());
    send(in, m);
    return true;
  }
  if (pm.family != 6 || pm.icmp_type != 135 || pm.vlan || m->nb_segs != 1) return false;
  const uint8_t* icmp = d + pm.l4_offset;
  if (pm.l3_offset + pm.l3_length - pm.l4_offset < 24 || isZero(pm.src_ip, 16)) return false;
  uint8_t target[16];
  std::memcpy(target, icmp + 8, 16);
  const bool router = tc.router_ipv6 && std::memcmp(target, tc.router_ipv6->bytes.data(), 16) == 0;
  if (!router && pol.tunnelPortFor(6, target) < 0) return false;
  const size_t need = kEth + 40 + 32;
  if (rte_pktmbuf_data_len(m) < need && !rte_pktmbuf_append(m, static_cast<uint16_t>(need - rte_pktmbuf_data_len(m))))
    return false;
  writeNeighborAdvert(d, target, pol.routerMac(), router);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - need));
  send(in, m);
  return true;
}

void Worker::sealPending(uint32_t index) {
  Tunnel& t = *shared_->tunnel;
  TunnelPeer& peer = t.peer(index);
  const uint16_t port = peer.port;
  TxBuffer& b = tx_[port];
  rte_mbuf* pk[2 * kBurst];
  const uint16_t n = b.n;
  std::memcpy(pk, b.pkts, n * sizeof pk[0]);
  b.n = 0;  // sealOne queues on the uplink, which may flush: this buffer must be settled first
  if (!t.config().wait_for_keys) {
    for (uint16_t i = 0; i < n; ++i) sealOne(peer, pk[i], port);
    return;
  }
  // peer_down: wait. Held packets go first, in order, once the peer has keys; past wait_ms, or
  // beyond the hold's size, they are dropped as without keys.
  if (tunnel_.held.size() < t.peerCount()) tunnel_.held.resize(t.peerCount());
  auto& h = tunnel_.held[index];
  const uint64_t now = rte_rdtsc();
  const uint64_t maxAge = shared_->tsc_hz / 1000 * t.config().wait_ms;
  const bool keys = peer.out.load(std::memory_order_acquire) != nullptr;
  size_t k = 0;
  for (; k < h.size(); ++k) {
    if (keys) sealOne(peer, h[k].m, port);
    else if (now - h[k].tsc > maxAge) drop(h[k].m, DropReason::kTunnelNoKeys, port);
    else break;
  }
  h.erase(h.begin(), h.begin() + static_cast<long>(k));
  for (uint16_t i = 0; i < n; ++i) {
    if (keys && h.empty()) sealOne(peer, pk[i], port);
    else if (h.size() < TunnelPath::kHoldPerPeer) h.push_back({pk[i], now});
    else drop(pk[i], DropReason::kTunnelNoKeys, port);
  }
}

void Worker::sealOne(TunnelPeer& peer, rte_mbuf* m, uint16_t port) {
  Tunnel& t = *shared_->tunnel;
  const uint64_t mac = peer.next_hop_mac.load(std::memory_order_relaxed);
  if (!mac) {
    drop(m, DropReason::kTunnelNoNeighbor, port);
    return;
  }
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  const uint16_t type = loadBe16(d + 12);
  if (m->nb_segs != 1 || (type != kEthIpv4 && type != kEthIpv6)) {
    drop(m, DropReason::kUnsupportedEthertype, port);
    return;
  }
  const bool v4 = type == kEthIpv4;
  uint8_t* inner = d + kEth;
  const size_t innerLen = v4 ? loadBe16(inner + 2) : 40u + loadBe16(inner + 4);
  if (innerLen + kEth > rte_pktmbuf_data_len(m)) {
    drop(m, DropReason::kTruncatedIp, port);
    return;
  }
  if (innerLen > peer.max_inner) {
    const uint16_t frag = v4 ? loadBe16(inner + 6) : 0;
    if (v4 && !(frag & 0x4000) && shared_->pool) {
      // DF clear: the inner packet is fragmented to fit (RFC 791), each fragment sealed on its own;
      // the receiving VM reassembles. The outer header always carries DF.
      const size_t ihl = (inner[0] & 0xf) * 4u;
      const size_t payload = innerLen - ihl;
      const size_t step = (peer.max_inner - ihl) & ~size_t{7};
      const uint16_t baseOff = frag & 0x1fff;
      for (size_t off = 0; off < payload; off += step) {
        const size_t len = std::min(step, payload - off);
        rte_mbuf* f = rte_pktmbuf_alloc(shared_->pool);
        uint8_t* fd =
            f ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(f, static_cast<uint16_t>(kEth + ihl + len))) : nullptr;
        if (!fd) {
          if (f) rte_pktmbuf_free(f);
          drop(m, DropReason::kTunnelTooBig, port);
          return;
        }
        std::memcpy(fd, d, kEth + ihl);
        std::memcpy(fd + kEth + ihl, inner + ihl + off, len);
        uint8_t* fi = fd + kEth;
        put16(fi + 2, static_cast<uint16_t>(ihl + len));
        const bool more = off + len < payload || (frag & 0x2000);
        put16(fi + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | (baseOff + off / 8)));
        setIpv4Checksum(fi);
        f->port = m->port;
        sealOne(peer, f, port);
      }
      rte_pktmbuf_free(m);
      return;
    }
    sendTooBig(m, peer.max_inner);
    drop(m, DropReason::kTunnelTooBig, port);
    return;
  }
  const size_t outerIp = peer.family == 4 ? 20 : 40;
  const size_t trailer = crypto::espTrailerLen(innerLen);
  if (rte_pktmbuf_headroom(m) + kEth < kEth + outerIp + crypto::kEspPrefixLen ||
      rte_pktmbuf_tailroom(m) + (rte_pktmbuf_data_len(m) - kEth - innerLen) < trailer) {
    drop(m, DropReason::kTunnelTooBig, port);
    return;
  }
  OutboundSa* sa = peer.out.load(std::memory_order_acquire);
  if (!sa) {  // no keys for this peer (its key service is down): its flows are blocked
    drop(m, DropReason::kTunnelNoKeys, port);
    return;
  }
  const uint64_t seq = sa->seq.fetch_add(1, std::memory_order_relaxed) + 1;
  // Past the sequence space, or past what is reserved in the sequence file (static keys): never
  // a repeated nonce, even after a restart.
  if (seq == 0 || seq == UINT64_MAX || (!sa->esn && seq > UINT32_MAX) ||
      seq > sa->limit.load(std::memory_order_relaxed)) {
    sa->seq.store(UINT64_MAX - 1, std::memory_order_relaxed);  // stays exhausted
    drop(m, DropReason::kTunnelSeqExhausted, port);
    tunnelAlert(DropReason::kTunnelSeqExhausted, peer.remote, peer.family, rte_rdtsc());
    return;
  }
  sa->bytes.add(innerLen);
  const uint8_t tos = tosOf(inner);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - kEth - innerLen));  // Ethernet padding
  rte_pktmbuf_adj(m, kEth);
  const size_t espLen = crypto::espSeal(*sa->gcm[id_], sa->salt, sa->spi, sa->esn, seq,
                                        v4 ? crypto::kNextHeaderIpv4 : crypto::kNextHeaderIpv6, inner, innerLen);
  rte_pktmbuf_append(m, static_cast<uint16_t>(trailer));
  auto* o =
      reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(kEth + outerIp + crypto::kEspPrefixLen)));
  putMac(o, mac);
  putMac(o + 6, t.underlayMac());
  if (peer.family == 4) {
    put16(o + 12, kEthIpv4);
    writeIpv4(o + kEth, crypto::outerTos(tos), static_cast<uint16_t>(20 + espLen), true, 50, t.ipv4(), peer.remote);
  } else {
    put16(o + 12, kEthIpv6);
    writeIpv6(o + kEth, crypto::outerTos(tos), static_cast<uint16_t>(espLen), 50, 64, t.ipv6(), peer.remote);
  }
  m->ol_flags = 0;
  peer.tx_packets.add(1);
  peer.tx_bytes.add(innerLen);
  bump(stats_.ports[port].tx_packets, 1);
  bump(stats_.ports[port].tx_bytes, innerLen);
  send(t.uplink(), m);
}

void Worker::sendTooBig(rte_mbuf* m, uint32_t mtu) {
  // Back to the port the packet came in on (a VM or the uplink), never into a tunnel.
  int in = -1;
  for (uint32_t p = 0; p < shared_->ports.size(); ++p)
    if (shared_->ports[p] == m->port) in = static_cast<int>(p);
  if (in < 0 || !shared_->pool) return;
  const TunnelConfig& tc = shared_->tunnel->config();
  const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint8_t* inner = d + kEth;
  const bool v4 = loadBe16(d + 12) == kEthIpv4;
  const size_t innerLen = rte_pktmbuf_data_len(m) - kEth;
  // Quote as much as RFC 1812 (576 bytes in all) or RFC 4443 (1,280) allows.
  const size_t quote = std::min(innerLen, v4 ? size_t{576 - 28} : size_t{1280 - 48});
  const size_t ipLen = v4 ? 20 : 40;
  rte_mbuf* r = rte_pktmbuf_alloc(shared_->pool);
  uint8_t* w =
      r ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(kEth + ipLen + 8 + quote))) : nullptr;
  if (!w) {
    if (r) rte_pktmbuf_free(r);
    return;
  }
  std::memcpy(w, d + 6, 6);
  putMac(w + 6, shared_->tunnel->config().router_mac.toU64());
  put16(w + 12, v4 ? kEthIpv4 : kEthIpv6);
  uint8_t* ip = w + kEth;
  uint8_t* icmp = ip + ipLen;
  std::memcpy(icmp + 8, inner, quote);
  if (v4) {
    // From the router address if there is one, else from the destination the packet was for.
    const uint8_t* src = tc.router_ipv4 ? tc.router_ipv4->bytes.data() : inner + 16;
    writeIpv4(ip, 0, static_cast<uint16_t>(20 + 8 + quote), false, 1, src, inner + 12);
    icmp[0] = 3;
    icmp[1] = 4;
    icmp[2] = icmp[3] = 0;
    put16(icmp + 4, 0);
    put16(icmp + 6, static_cast<uint16_t>(mtu));
    uint16_t c = static_cast<uint16_t>(~rte_raw_cksum(icmp, 8 + quote));
    std::memcpy(icmp + 2, &c, 2);
  } else {
    const uint8_t* src = tc.router_ipv6 ? tc.router_ipv6->bytes.data() : inner + 24;
    writeIpv6(ip, 0, static_cast<uint16_t>(8 + quote), 58, 64, src, inner + 8);
    icmp[0] = 2;
    icmp[1] = 0;
    put32(icmp + 4, mtu);
    icmp6Checksum(ip);
  }
  send(static_cast<uint16_t>(in), r);
}

void Worker::resolveNextHops(uint64_t now) {
  if (now < tunnel_.next_resolve_tsc) return;
  tunnel_.next_resolve_tsc = now + shared_->tsc_hz;  // once a second
  Tunnel& t = *shared_->tunnel;
  for (uint32_t i = 0; i < t.peerCount(); ++i) {
    TunnelPeer& p = t.peer(i);
    const bool fresh = p.static_mac || (p.next_hop_mac.load(std::memory_order_relaxed) &&
                                        now - p.resolved_tsc.load(std::memory_order_relaxed) < 30 * shared_->tsc_hz);
    if (fresh || !shared_->pool) continue;
    rte_mbuf* r = rte_pktmbuf_alloc(shared_->pool);
    if (!r) return;
    if (p.family == 4) {
      uint8_t* w = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, kEth + 28));
      std::memset(w, 0xff, 6);
      putMac(w + 6, t.underlayMac());
      put16(w + 12, kEthArp);
      uint8_t* a = w + kEth;
      put16(a, 1);
      put16(a + 2, kEthIpv4);
      a[4] = 6;
      a[5] = 4;
      put16(a + 6, 1);
      putMac(a + 8, t.underlayMac());
      std::memcpy(a + 14, t.ipv4(), 4);
      std::memset(a + 18, 0, 6);
      std::memcpy(a + 24, p.next_hop, 4);
    } else {
      uint8_t* w = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, kEth + 40 + 32));
      uint8_t group[16] = {0xff,           0x02,          0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, p.next_hop[13],
                           p.next_hop[14], p.next_hop[15]};
      const uint8_t dst[6] = {0x33, 0x33, 0xff, p.next_hop[13], p.next_hop[14], p.next_hop[15]};
      std::memcpy(w, dst, 6);
      putMac(w + 6, t.underlayMac());
      put16(w + 12, kEthIpv6);
      uint8_t* ip = w + kEth;
      writeIpv6(ip, 0, 32, 58, 255, t.ipv6(), group);
      uint8_t* icmp = ip + 40;
      std::memset(icmp, 0, 8);
      icmp[0] = 135;
      std::memcpy(icmp + 8, p.next_hop, 16);
      icmp[24] = 1;  // source link-layer address option
      icmp[25] = 1;
      putMac(icmp + 26, t.underlayMac());
      icmp6Checksum(ip);
    }
    send(t.uplink(), r);
  }
}

}  // namespace goldgate::dataplane

#include "goldgate/dataplane/conntrack.h"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

namespace goldgate::dataplane {

const char* flowStateName(FlowState s) {
  switch (s) {
    case FlowState::kFree: return "free";
    case FlowState::kTcpSynSent: return "SYN_SENT";
    case FlowState::kTcpSynRecv: return "SYN_RECV";
    case FlowState::kTcpEstablished: return "ESTABLISHED";
    case FlowState::kTcpFinWait: return "FIN_WAIT";
    case FlowState::kTcpClosing: return "CLOSING";
    case FlowState::kTcpClosed: return "CLOSED";
    case FlowState::kUdpSingle: return "UDP_UNREPLIED";
    case FlowState::kUdpBoth: return "UDP_REPLIED";
    case FlowState::kIcmp: return "ICMP";
    case FlowState::kOther: return "OTHER";
  }
  return "?";
}

TimeoutTicks TimeoutTicks::fromConfig(const Timeouts& t, uint64_t hz) {
  TimeoutTicks o{};
  auto set = [&](FlowState s, uint32_t secs) { o.by_state[static_cast<int>(s)] = hz * secs; };
  set(FlowState::kFree, 0);
  set(FlowState::kTcpSynSent, t.tcp_syn);
  set(FlowState::kTcpSynRecv, t.tcp_syn);
  set(FlowState::kTcpEstablished, t.tcp_established);
  set(FlowState::kTcpFinWait, t.tcp_closing);
  set(FlowState::kTcpClosing, t.tcp_closing);
  set(FlowState::kTcpClosed, t.tcp_closed);
  set(FlowState::kUdpSingle, t.udp_single);
  set(FlowState::kUdpBoth, t.udp_both);
  set(FlowState::kIcmp, t.icmp);
  set(FlowState::kOther, t.other);
  return o;
}

uint32_t flowKeyHash(const void* key, uint32_t len, uint32_t seed) {
  const auto* k = static_cast<const FlowKey*>(key);
  uint64_t tail;
  std::memcpy(&tail, &k->port_a, 8);  // ports, protocol, family, 2 bytes of padding (zero)
  if (k->family == 4) {
    uint32_t a, b;
    std::memcpy(&a, k->addr_a, 4);
    std::memcpy(&b, k->addr_b, 4);
    return rte_hash_crc_8byte(tail, rte_hash_crc_8byte((uint64_t{a} << 32) | b, seed));
  }
  (void)len;
  return rte_hash_crc(k, 40, seed);
}

FlowState initialState(uint8_t protocol) {
  switch (protocol) {
    case 6: return FlowState::kTcpSynSent;
    case 17: return FlowState::kUdpSingle;
    case 1:
    case 58: return FlowState::kIcmp;
    default: return FlowState::kOther;
  }
}

void trackPacket(Flow& f, int dir, uint8_t protocol, uint8_t flags) {
  if (protocol != 6) {
    if (f.state == FlowState::kUdpSingle && dir == 1) f.state = FlowState::kUdpBoth;
    return;
  }
  if (flags & kTcpRst) {
    f.state = FlowState::kTcpClosed;
    return;
  }
  switch (f.state) {
    case FlowState::kTcpSynSent:
      if (dir == 1 && (flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck)) f.state = FlowState::kTcpSynRecv;
      break;
    case FlowState::kTcpSynRecv:
      if (dir == 0 && (flags & kTcpAck) && !(flags & kTcpSyn)) f.state = FlowState::kTcpEstablished;
      break;
    default: break;
  }
  if (flags & kTcpFin) {
    f.fin_seen |= static_cast<uint8_t>(1u << dir);
    f.state = f.fin_seen == 3 ? FlowState::kTcpClosing : FlowState::kTcpFinWait;
  }
}

Result<std::unique_ptr<FlowTable>> FlowTable::create(const std::string& name, uint32_t capacity, int socket) {
  std::unique_ptr<FlowTable> t(new FlowTable());
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity;
  p.key_len = sizeof(FlowKey);
  p.hash_func = flowKeyHash;
  p.hash_func_init_val = 0x9e3779b9;
  p.socket_id = socket;
  // The extendable bucket table guarantees that `capacity` keys fit whatever their hashes.
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  t->hash_ = rte_hash_create(&p);
  if (!t->hash_)
    return makeError(Error::Code::kResource, "cannot create flow table '" + name + "' for " + std::to_string(capacity) +
                                                 " flows: " + rte_strerror(rte_errno));
  t->flows_ = static_cast<Flow*>(rte_zmalloc_socket("flows", sizeof(Flow) * (size_t{capacity} + 1), 64, socket));
  if (!t->flows_)
    return makeError(Error::Code::kResource, "cannot allocate " + std::to_string(capacity) + " flow records");
  t->capacity_ = capacity;
  return t;
}

FlowTable::~FlowTable() {
  if (hash_) rte_hash_free(hash_);
  if (flows_) rte_free(flows_);
}

void FlowTable::lookupBulk(const void** keys, uint32_t n, int32_t* positions) const {
  rte_hash_lookup_bulk(hash_, keys, n, positions);
}

int32_t FlowTable::insert(const FlowKey& key) {
  if (count_ >= capacity_) {
    int32_t existing = rte_hash_lookup(hash_, &key);
    return existing >= 0 ? existing : -ENOSPC;
  }
  int32_t pos = rte_hash_add_key(hash_, &key);
  if (pos >= 0 && flows_[pos].created_tsc == 0) ++count_;
  return pos;
}

void FlowTable::remove(int32_t pos) {
  void* key = nullptr;
  if (rte_hash_get_key_with_position(hash_, pos, &key) == 0) rte_hash_del_key(hash_, key);
  std::memset(&flows_[pos], 0, sizeof(Flow));
  --count_;
}

int32_t FlowTable::next(uint32_t* iter, const FlowKey** key) const {
  const void* k = nullptr;
  void* data = nullptr;
  int32_t pos = rte_hash_iterate(hash_, &k, &data, iter);
  if (pos < 0) {
    *iter = 0;
    return -1;
  }
  *key = static_cast<const FlowKey*>(k);
  return pos;
}

}  // namespace goldgate::dataplane

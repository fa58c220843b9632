// Connection tracking: a per-worker flow table (rte_hash, canonical 5-tuple key so both directions
// of a connection find one entry) and the TCP / UDP / ICMP state machines with idle timeouts.
// A FlowTable is owned by one worker: only that worker reads or writes it (see dataplane/README.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "goldgate/common/result.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/packet.h"

struct rte_hash;

namespace goldgate::dataplane {

/// Canonical flow key: the numerically lower (address, port) endpoint is side A. 48 bytes, so
/// rte_hash compares keys with its vector 48-byte compare; the hash function reads only the bytes
/// in use (16 for IPv4).
struct alignas(8) FlowKey {
  uint8_t addr_a[16];
  uint8_t addr_b[16];
  uint16_t port_a;
  uint16_t port_b;
  uint8_t protocol;
  uint8_t family;
  uint8_t pad[10];
};
static_assert(sizeof(FlowKey) == 48);

/// Hash of a FlowKey (rte_hash signature: key, length, seed).
uint32_t flowKeyHash(const void* key, uint32_t len, uint32_t seed);

inline uint32_t loadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// Builds the canonical key of an IP packet; returns true when the packet's source is side A.
inline bool makeFlowKey(const PacketMeta& m, FlowKey* k) {
  const int alen = m.family == 4 ? 4 : 16;
  int c;
  if (m.family == 4) {
    // Inline: a 4-byte memcmp would be a libc call per packet.
    uint32_t s = __builtin_bswap32(loadU32(m.src_ip)), d = __builtin_bswap32(loadU32(m.dst_ip));
    c = s < d ? -1 : s > d ? 1 : 0;
  } else {
    c = std::memcmp(m.src_ip, m.dst_ip, 16);
  }
  bool srcIsA = c < 0 || (c == 0 && m.sport <= m.dport);
  std::memset(k, 0, sizeof *k);
  const uint8_t* a = srcIsA ? m.src_ip : m.dst_ip;
  const uint8_t* b = srcIsA ? m.dst_ip : m.src_ip;
  std::memcpy(k->addr_a, a, alen);
  std::memcpy(k->addr_b, b, alen);
  k->port_a = srcIsA ? m.sport : m.dport;
  k->port_b = srcIsA ? m.dport : m.sport;
  k->protocol = m.protocol;
  k->family = m.family;
  return srcIsA;
}

enum class FlowState : uint8_t {
  kFree = 0,
  kTcpSynSent,
  kTcpSynRecv,
  kTcpEstablished,
  kTcpFinWait,  // one side has sent FIN
  kTcpClosing,  // both sides have sent FIN
  kTcpClosed,   // RST seen
  kUdpSingle,   // packets in one direction only so far
  kUdpBoth,
  kIcmp,
  kOther,
};

const char* flowStateName(FlowState s);

/// Per-connection state. 64 bytes: one cache line.
struct alignas(64) Flow {
  uint64_t last_tsc;
  uint64_t created_tsc;  // 0 = slot unused
  uint64_t policy_gen;   // generation the verdict was taken under
  uint32_t packets[2];   // [0] from originator, [1] replies
  uint64_t bytes[2];
  uint32_t rule;  // rule id that admitted the flow
  FlowState state;
  uint8_t orig_is_a;  // originator is side A of the key
  uint8_t port[2];    // originator's port, responder's port
  uint8_t fin_seen;   // bit 0: originator sent FIN, bit 1: responder
  uint8_t pad[3];
};
static_assert(sizeof(Flow) == 64);

/// Idle timeouts in TSC ticks, indexed by FlowState.
struct TimeoutTicks {
  uint64_t by_state[16];
  static TimeoutTicks fromConfig(const Timeouts& t, uint64_t hz);
};

/// Advances the state of `f` for a packet in direction `dir` (0 = originator) with TCP `flags`.
/// Pure; unit-tested. For UDP/ICMP/other, `flags` is ignored.
void trackPacket(Flow& f, int dir, uint8_t protocol, uint8_t flags);

/// Initial state of a new flow of `protocol`.
FlowState initialState(uint8_t protocol);

/// True when a TCP segment with `flags` may open a connection (SYN without ACK, RST or FIN).
inline bool tcpOpens(uint8_t flags) { return (flags & (kTcpSyn | kTcpAck | kTcpRst | kTcpFin)) == kTcpSyn; }

/// True when the flow is closed or closing and a new SYN should start a fresh connection.
inline bool tcpReusable(const Flow& f) { return f.state == FlowState::kTcpClosed || f.state == FlowState::kTcpClosing; }

/// Fixed-capacity flow table. When full, insert fails and the caller denies (fail closed).
class FlowTable {
 public:
  /// Creates a table for `capacity` flows on NUMA `socket`. Needs the EAL. Control thread.
  static Result<std::unique_ptr<FlowTable>> create(const std::string& name, uint32_t capacity, int socket);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  /// Looks up n <= 64 keys; positions[i] >= 0 on hit, negative on miss. Owning worker only.
  void lookupBulk(const void** keys, uint32_t n, int32_t* positions) const;
  /// Inserts (or finds) `key`; returns its position or -ENOSPC when full. Owning worker only.
  int32_t insert(const FlowKey& key);
  /// Removes the flow at `pos` (its key is read back from the table). Owning worker only.
  void remove(int32_t pos);
  /// Iterates: returns the next position >= 0 and its key, or -1 at the end (then *iter is reset).
  int32_t next(uint32_t* iter, const FlowKey** key) const;
  Flow& at(int32_t pos) { return flows_[pos]; }
  const Flow& at(int32_t pos) const { return flows_[pos]; }
  uint32_t count() const { return count_; }
  uint32_t capacity() const { return capacity_; }

 private:
  FlowTable() = default;
  rte_hash* hash_ = nullptr;
  Flow* flows_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t count_ = 0;
};

}  // namespace goldgate::dataplane

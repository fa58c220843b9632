// The fragments a worker follows: for each fragmented datagram it has seen, where its later
// fragments go (the verdict of its first fragment), and, for datagrams of inspected connections,
// the payload gathered until it is whole. Bounded: a fixed set of entries, and limits on the bytes
// and datagrams gathered, in all and per port. Internal to dataplane/; owned by one worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "goldgate/dataplane/conntrack.h"
#include "goldgate/dataplane/fragments.h"
#include "goldgate/dataplane/packet.h"
#include "goldgate/dataplane/policy.h"

namespace goldgate::dataplane {

// A fragmented datagram of an inspected connection, gathered until it is whole; it is inspected
// then, with its last fragment held back until the verdict (worker_frag.cc).
struct FragGather {
  FlowKey key{};           // the connection: looked up again when the datagram is whole (it may be gone)
  uint8_t src_is_a = 0;    // the datagram's sender is the key's side a
  uint16_t port = 0;       // the port it came in on (per-port bounds)
  bool done = false;       // inspected: fragments of it that still come are dropped
  FragmentGather payload;  // bad: overlapping fragments, too long, or no room: the rest of it is dropped
};

struct FragEntry {
  uint8_t src[16], dst[16];
  uint32_t id;
  uint8_t protocol, family, out_port, valid;  // valid: its first fragment passed toward out_port
  uint64_t tsc;                               // last seen (0: free)
  std::unique_ptr<FragGather> gather;         // null: the datagram's connection is not inspected
};

class FragTable {
 public:
  static constexpr uint32_t kEntries = 1024, kWays = 4;  // entries, and entries per bucket
  static constexpr uint64_t kLifeSec = 65;               // longer than receivers keep a datagram's fragments
  static constexpr uint64_t kHoldTotal = 8ull << 20;     // bytes gathered, in all datagrams
  static constexpr uint64_t kHoldPort = kHoldTotal / 4;  // ... for datagrams from one port
  static constexpr uint32_t kGathersPort = 256;          // datagrams one port may have in gathering

  explicit FragTable(uint64_t tscHz) : tsc_hz_(tscHz) {}

  /// This datagram's live entry, or null.
  FragEntry* find(const PacketMeta& m, uint64_t now);
  /// This datagram's entry, taken from a free or expired one if it has none; null: no room.
  FragEntry* claim(const PacketMeta& m, uint64_t now);
  /// Starts gathering the datagram of `fe` (any earlier gather released); false when port `port`
  /// already has kGathersPort datagrams in gathering.
  bool startGather(FragEntry& fe, const FlowKey& key, uint8_t srcIsA, uint16_t port);
  /// Adds `len` payload bytes of fragment `pm` within the bounds on what is held. Full: the
  /// datagram is given up (its fragments are dropped from here on), never a younger one freed.
  bool add(FragGather& g, const PacketMeta& pm, const uint8_t* bytes, uint32_t len, uint64_t now);
  /// The whole datagram's payload, taken out of the gather: it is no longer held.
  std::string take(FragGather& g);
  /// Ends the entry's gather (if any) and returns its bytes to the bounds.
  void release(FragEntry& fe);
  /// Bytes held in all gathers.
  uint64_t heldBytes() const { return held_; }

 private:
  FragEntry* bucket(const PacketMeta& m);
  bool sameDatagram(const FragEntry& fe, const PacketMeta& m, uint64_t now) const;
  bool live(const FragEntry& e, uint64_t now) const { return e.tsc && now - e.tsc < tsc_hz_ * kLifeSec; }
  void sweep(uint64_t now);  // releases gathers past kLifeSec

  uint64_t tsc_hz_;
  FragEntry entries_[kEntries] = {};
  uint64_t held_ = 0;                      // bytes gathered in all gathers (bounded by kHoldTotal)
  uint64_t held_port_[kMaxPorts] = {};     // ... of which each port's (bounded by kHoldPort)
  uint32_t gathers_port_[kMaxPorts] = {};  // datagrams each port has being gathered
};

}  // namespace goldgate::dataplane

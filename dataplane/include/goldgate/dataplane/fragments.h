// One fragmented IP datagram's payload, gathered for inspection (the switch's workers and
// `goldgatectl classify` over captures): fragments in any order, each byte once. Overlapping
// fragments, two different ends, a fragment past the end, or a payload past 64 KiB make the
// datagram unusable: the bytes inspected must be the bytes its receiver rebuilds, and a receiver
// drops such datagrams (RFC 5722 for IPv6; Linux for both families).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "goldgate/dataplane/packet.h"

namespace goldgate::dataplane {

class FragmentGather {
 public:
  static constexpr uint32_t kMaxPayload = 65535;

  /// Adds `len` bytes at byte `offset` of the datagram's payload; `last`: the fragment with no
  /// more after it. False when refused; the datagram is then bad, and every later add is refused.
  bool add(uint32_t offset, const uint8_t* data, uint32_t len, bool last);
  /// Every byte from 0 to the last fragment's end has arrived.
  bool complete() const {
    return !bad_ && total_ && have_.size() == 1 && have_[0].first == 0 && have_[0].second == total_;
  }
  bool bad() const { return bad_; }
  /// Makes the datagram bad (the caller could not take a fragment of it).
  void giveUp() { bad_ = true; }
  /// Bytes of buffer the gather holds (up to the furthest byte received).
  size_t heldBytes() const { return bytes_.size(); }
  /// The payload (from the L4 header on) once complete(); the gather is left empty.
  std::string take();

 private:
  bool refuse() {
    bad_ = true;
    return false;
  }
  bool bad_ = false;
  uint32_t total_ = 0;  // known once the last fragment arrived
  std::string bytes_;
  std::vector<std::pair<uint32_t, uint32_t>> have_;  // the byte ranges received, sorted, disjoint
};

/// The L4 header at the start of a gathered TCP or UDP payload, written into `m` (ports, TCP flags)
/// as the parser does for a whole packet. False when the payload cannot hold the whole header.
bool datagramL4(std::string_view payload, PacketMeta& m);

}  // namespace goldgate::dataplane

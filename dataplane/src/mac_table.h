// Learned MAC table (FDB) of one worker: open addressing over a fixed array, no allocation after
// construction, entries age out. Internal to dataplane/.
#pragma once

#include <cstdint>
#include <vector>

namespace goldgate::dataplane {

class MacTable {
 public:
  explicit MacTable(uint32_t capacityPow2 = 4096, uint64_t ageTicks = 0)
      : slots_(capacityPow2), mask_(capacityPow2 - 1), age_(ageTicks) {}
  void setAge(uint64_t ticks) { age_ = ticks; }

  /// Port that `mac` was last seen on, or -1 (unknown or aged out).
  int lookup(uint64_t mac, uint64_t now) const {
    uint32_t i = hash(mac);
    for (uint32_t probe = 0; probe < kMaxProbe; ++probe, i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == mac + 1) return (age_ && now - s.tsc > age_) ? -1 : s.port;
      if (s.key == 0) return -1;
    }
    return -1;
  }

  /// Records that `mac` lives behind `port`. Returns true when the entry is new or moved.
  bool learn(uint64_t mac, uint8_t port, uint64_t now) {
    uint32_t i = hash(mac);
    Slot* victim = nullptr;
    for (uint32_t probe = 0; probe < kMaxProbe; ++probe, i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == mac + 1) {
        bool moved = s.port != port;
        s.port = port;
        s.tsc = now;
        return moved;
      }
      if (s.key == 0) {
        victim = &s;
        break;
      }
      if (!victim || s.tsc < victim->tsc) victim = &s;  // oldest in the probe window is replaced
    }
    victim->key = mac + 1;
    victim->port = port;
    victim->tsc = now;
    return true;
  }

  void clear() {
    for (auto& s : slots_) s = Slot{};
  }

 private:
  static constexpr uint32_t kMaxProbe = 8;
  struct Slot {
    uint64_t key = 0;  // mac + 1; 0 = empty
    uint64_t tsc = 0;
    uint8_t port = 0;
  };
  uint32_t hash(uint64_t mac) const { return static_cast<uint32_t>((mac * 0x9E3779B97F4A7C15ull) >> 40) & mask_; }
  std::vector<Slot> slots_;
  uint32_t mask_;
  uint64_t age_;
};

}  // namespace goldgate::dataplane

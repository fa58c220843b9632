#include "goldgate/datapolicy/reassembly.h"

#include <algorithm>
#include <cstring>

namespace goldgate::datapolicy {

void TcpReassembler::segment(uint32_t seq, bool syn, const uint8_t* data, size_t len, Sink& sink) {
  if (syn) {
    // The SYN takes one sequence number; data (rare on a SYN) starts after it.
    if (!started_) {
      started_ = true;
      next_seq_ = seq + 1;
    }
    seq += 1;
  }
  if (len == 0) return;
  if (!started_) {  // joined mid-stream (a capture that missed the handshake)
    started_ = true;
    next_seq_ = seq;
  }
  int64_t rel = static_cast<int32_t>(seq - next_seq_);
  if (rel + static_cast<int64_t>(len) <= 0) {
    retransmitted_ += len;
    return;
  }
  if (rel < 0) {  // partly old: trim what was already delivered
    retransmitted_ += static_cast<uint64_t>(-rel);
    data += -rel;
    len -= static_cast<size_t>(-rel);
    rel = 0;
  }
  if (rel == 0) {
    sink.bytes(data, len);
    next_seq_ += static_cast<uint32_t>(len);
    next_abs_ += len;
    drain(sink);
    return;
  }
  uint64_t abs = next_abs_ + static_cast<uint64_t>(rel);
  auto it = held_.find(abs);
  if (it != held_.end()) {  // the same start again: the longer copy, or the newer of equal length (as Linux's queue)
    if (it->second.size() > len) {
      retransmitted_ += len;
      return;
    }
    held_bytes_ -= it->second.size();
    retransmitted_ += it->second.size();
  }
  held_[abs].assign(reinterpret_cast<const char*>(data), len);
  held_bytes_ += len;
  while (held_bytes_ > limits_.max_held_bytes || held_.size() > limits_.max_held_segments) giveUpOldestGap(sink);
}

bool TcpReassembler::wouldOverflow(uint32_t seq, size_t len, uint64_t room) const {
  if (!started_ || len == 0) return false;
  const int64_t rel = static_cast<int32_t>(seq - next_seq_);
  if (rel <= 0) return false;  // in order (or partly old): delivered at once, never held
  // The same start as a held copy: only a longer copy grows what is held (segment() keeps the longer).
  auto it = held_.find(next_abs_ + static_cast<uint64_t>(rel));
  const size_t grows = it == held_.end() ? len : len > it->second.size() ? len - it->second.size() : 0;
  const size_t segments = held_.size() + (it == held_.end() ? 1 : 0);
  return held_bytes_ + grows > limits_.max_held_bytes || segments > limits_.max_held_segments || grows > room;
}

bool TcpReassembler::conflicts(uint32_t seq, const uint8_t* data, size_t len) const {
  if (!started_ || held_.empty() || len == 0) return false;
  const int64_t rel = static_cast<int32_t>(seq - next_seq_);
  if (rel + static_cast<int64_t>(len) <= 0) return false;
  // Stream positions of the segment's bytes that are not yet delivered.
  const uint64_t skip = rel < 0 ? static_cast<uint64_t>(-rel) : 0;
  const uint64_t start = next_abs_ + (rel < 0 ? 0 : static_cast<uint64_t>(rel));
  const uint64_t end = start + (len - skip);
  // Held copies may overlap each other, so one that starts well before `start` can still reach
  // past it: every copy that starts before `end` is compared (at most max_held_segments).
  for (auto it = held_.begin(); it != held_.end() && it->first < end; ++it) {
    const uint64_t hs = it->first, he = hs + it->second.size();
    const uint64_t lo = std::max(hs, start), hi = std::min(he, end);
    if (lo >= hi) continue;
    if (std::memcmp(it->second.data() + (lo - hs), data + skip + (lo - start), hi - lo) != 0) return true;
  }
  return false;
}

void TcpReassembler::drain(Sink& sink) {
  while (!held_.empty()) {
    auto it = held_.begin();
    uint64_t start = it->first;
    if (start > next_abs_) return;
    std::string data = std::move(it->second);
    held_bytes_ -= data.size();
    held_.erase(it);
    uint64_t end = start + data.size();
    if (end <= next_abs_) {
      retransmitted_ += data.size();
      continue;
    }
    size_t skip = static_cast<size_t>(next_abs_ - start);
    retransmitted_ += skip;
    sink.bytes(reinterpret_cast<const uint8_t*>(data.data()) + skip, data.size() - skip);
    next_seq_ += static_cast<uint32_t>(data.size() - skip);
    next_abs_ = end;
  }
}

void TcpReassembler::giveUpOldestGap(Sink& sink) {
  if (held_.empty()) return;
  uint64_t start = held_.begin()->first;
  uint64_t hole = start - next_abs_;
  sink.gap(hole);
  gap_bytes_ += hole;
  next_seq_ += static_cast<uint32_t>(hole);
  next_abs_ = start;
  drain(sink);
}

void TcpReassembler::finish(Sink& sink) {
  while (!held_.empty()) giveUpOldestGap(sink);
}

}  // namespace goldgate::datapolicy

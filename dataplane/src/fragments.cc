#include "goldgate/dataplane/fragments.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "goldgate/common/endian.h"

namespace goldgate::dataplane {

bool FragmentGather::add(uint32_t offset, const uint8_t* data, uint32_t len, bool last) {
  if (bad_) return false;
  const uint64_t end = uint64_t{offset} + len;
  if (end > kMaxPayload) return refuse();
  if (last && total_ && total_ != end) return refuse();  // two different ends
  if (total_ && end > total_) return refuse();           // past the end
  if (last && !have_.empty() && have_.back().second > end) return refuse();
  if (last) total_ = static_cast<uint32_t>(end);
  if (len == 0) return true;
  const auto e = static_cast<uint32_t>(end);
  auto it = std::lower_bound(have_.begin(), have_.end(), std::make_pair(offset, 0u));
  if (it != have_.end() && it->first < e) return refuse();
  if (it != have_.begin() && std::prev(it)->second > offset) return refuse();
  if (e > bytes_.size()) bytes_.resize(e);
  std::memcpy(bytes_.data() + offset, data, len);
  // Recorded as [offset, end), merged with the ranges it touches.
  it = have_.insert(it, {offset, e});
  if (std::next(it) != have_.end() && std::next(it)->first == e) {
    it->second = std::next(it)->second;
    have_.erase(std::next(it));
  }
  if (it != have_.begin() && std::prev(it)->second == offset) {
    std::prev(it)->second = it->second;
    have_.erase(it);
  }
  return true;
}

std::string FragmentGather::take() {
  std::string out = std::move(bytes_);
  bytes_.clear();
  have_.clear();
  total_ = 0;
  return out;
}

bool datagramL4(std::string_view payload, PacketMeta& m) {
  const auto* l4 = reinterpret_cast<const uint8_t*>(payload.data());
  const size_t need = m.protocol == 6 ? 20 : 8;
  if (payload.size() < need) return false;
  if (m.protocol == 6) {
    const size_t hdr = static_cast<size_t>(l4[12] >> 4) * 4;
    if (hdr < 20 || hdr > payload.size()) return false;
  }
  m.sport = loadBe16(l4);
  m.dport = loadBe16(l4 + 2);
  m.tcp_flags = m.protocol == 6 ? l4[13] : 0;
  return true;
}

}  // namespace goldgate::dataplane

#include "goldgate/hostmon/guest_state.h"

#include <algorithm>

namespace goldgate::hostmon {

const char* trustName(Trust t) {
  switch (t) {
    case Trust::kGuestReported: return "guest-reported";
    case Trust::kHypervisorObserved: return "hypervisor-observed";
  }
  return "unknown";
}

void GuestState::record(const Observation& o) {
  auto same = std::find_if(recent.begin(), recent.end(), [&](const Observation& r) { return r.kind == o.kind && r.detail == o.detail; });
  if (same != recent.end()) {
    Observation merged = *same;
    merged.count += o.count;
    merged.last_ns = std::max(merged.last_ns, o.last_ns);
    recent.erase(same);
    recent.push_back(std::move(merged));
    return;
  }
  recent.push_back(o);
  while (recent.size() > kMaxRecent) recent.pop_front();
}

std::optional<GuestState> GuestStateStore::find(const std::string& uuid) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = states_.find(uuid);
  if (it == states_.end()) return std::nullopt;
  return it->second;
}

void GuestStateStore::erase(const std::string& uuid) {
  std::lock_guard<std::mutex> l(mu_);
  states_.erase(uuid);
}

}  // namespace goldgate::hostmon

#include "guest_state.h"

#include <arpa/inet.h>

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
  auto same = std::find_if(recent.begin(), recent.end(),
                           [&](const Observation& r) { return r.kind == o.kind && r.detail == o.detail; });
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

namespace goldgate::hostmon {

std::vector<Observation> flowDisagreements(const FlowsView& flows, const AgentView* agent, int64_t nowNs) {
  std::vector<Observation> out;
  if (!agent || agent->listeners_seen.observed_ns == 0) return out;
  for (const auto& f : flows.flows) {
    if (!f.inbound || f.local_port == 0) continue;
    const bool tcp = f.protocol == "tcp";
    const bool udp = f.protocol == "udp";
    // A TCP connection past its handshake, or a UDP flow the VM answered: the VM has a socket.
    if (!(tcp && f.state == "ESTABLISHED" && f.packets_from_vm > 0) && !(udp && f.packets_from_vm > 0)) continue;
    // The agent must have looked after the flow began, else its silence proves nothing.
    const int64_t began = nowNs - static_cast<int64_t>(f.age_ms) * 1000000;
    if (agent->listeners_seen.observed_ns <= began) continue;
    auto has = [&](const GuestListener& l) { return l.port == f.local_port && l.proto.rfind(f.protocol, 0) == 0; };
    bool listed = std::any_of(agent->listeners.begin(), agent->listeners.end(), has) ||
                  std::any_of(agent->sockets.begin(), agent->sockets.end(), has);
    if (listed) continue;
    Observation o;
    o.kind = "disagreement.flow_without_socket";
    o.detail = "the switch carries " + f.protocol + " " + f.remote + " -> " + f.local +
               ", but the guest agent reports no " + f.protocol + " socket on port " + std::to_string(f.local_port);
    o.source = "goldgate-switch+qemu-agent";
    o.trust = Trust::kHypervisorObserved;
    o.first_ns = o.last_ns = nowNs;
    out.push_back(std::move(o));
  }
  return out;
}

namespace {

// The address in its one canonical text form (inet_ntop's), so that "FD00:0::1" and "fd00::1" are
// one address; text that is no address is kept as it is.
std::string canonicalIp(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  for (int af : {AF_INET, AF_INET6})
    if (inet_pton(af, text.c_str(), buf) == 1 && inet_ntop(af, buf, out, sizeof out)) return out;
  return text;
}

}  // namespace

std::vector<Observation> addressDisagreements(const std::map<std::string, std::vector<std::string>>& bound,
                                              const AgentView& agent) {
  std::vector<Observation> out;
  if (agent.interfaces_seen.observed_ns == 0) return out;
  for (const auto& i : agent.interfaces) {
    auto b = bound.find(i.mac);
    if (b == bound.end()) continue;  // not a NIC the switch carries
    for (const auto& withPrefix : i.addresses) {
      const std::string a = canonicalIp(withPrefix.substr(0, withPrefix.find('/')));
      if (a.rfind("fe8", 0) == 0 || a.rfind("fe9", 0) == 0 || a.rfind("fea", 0) == 0 || a.rfind("feb", 0) == 0)
        continue;  // link-local: bound with the MAC
      if (std::any_of(b->second.begin(), b->second.end(), [&](const std::string& d) { return canonicalIp(d) == a; }))
        continue;
      Observation o;
      o.kind = "disagreement.address";
      std::string declared;
      for (const auto& d : b->second) declared += (declared.empty() ? "" : ", ") + d;
      o.detail = "the guest agent reports " + a + " on " + i.mac + ", the domain binds " +
                 (declared.empty() ? std::string("no address") : declared) + " (the switch passes only those)";
      o.source = "qemu-agent+domain-xml";
      o.trust = Trust::kGuestReported;
      o.first_ns = o.last_ns = agent.interfaces_seen.observed_ns;
      out.push_back(std::move(o));
    }
  }
  return out;
}

}  // namespace goldgate::hostmon

// VM identity pushed by goldgate-hostmon: which VM is behind a port configured with
// `identity: hostmon`, with its MAC and addresses (anti-spoofing), labels and segment. Served on
// the control thread; a change publishes a new policy version like a reload.
#include <algorithm>
#include <filesystem>
#include <map>
#include <string_view>

#include "switch_impl.h"

namespace goldgate::dataplane {
namespace {

constexpr size_t kMaxName = 256;
constexpr int kMaxLabels = 64;
constexpr int kMaxIps = 64;

/// The vhost-user socket of a port (`iface=` in its devargs), or "".
std::string vhostSocketOf(const PortConfig& pc) {
  if (pc.devargs.rfind("net_vhost", 0) != 0) return {};
  std::string_view d = pc.devargs;
  size_t pos = 0;
  while (pos <= d.size()) {
    size_t end = d.find(',', pos);
    if (end == std::string_view::npos) end = d.size();
    std::string_view kv = d.substr(pos, end - pos);
    if (kv.rfind("iface=", 0) == 0) return std::filesystem::path(kv.substr(6)).lexically_normal().string();
    pos = end + 1;
  }
  return {};
}

bool sameIdentity(const PortConfig& a, const PortConfig& b) {
  return a.vm == b.vm && a.vm_uuid == b.vm_uuid && a.mac == b.mac && a.ips == b.ips && a.labels == b.labels &&
         a.segment == b.segment;
}

void clearIdentity(PortConfig& pc) {
  pc.vm.clear();
  pc.vm_uuid.clear();
  pc.mac.reset();
  pc.ips.clear();
  pc.labels.clear();
  pc.segment.clear();
}

/// Validates `id` into the identity fields of `pc`; an error names what is wrong.
Result<void> applyIdentity(const proto::PortIdentity& id, PortConfig& pc) {
  if (id.vm().empty()) {  // no VM on the port (any)more
    clearIdentity(pc);
    return {};
  }
  if (id.vm().size() > kMaxName) return makeError(Error::Code::kInvalidArgument, "VM name longer than 256 characters");
  if (id.uuid().size() > kMaxName || id.segment().size() > kMaxName)
    return makeError(Error::Code::kInvalidArgument, "UUID or segment name longer than 256 characters");
  if (id.labels_size() > kMaxLabels) return makeError(Error::Code::kInvalidArgument, "more than 64 labels");
  if (id.ips_size() > kMaxIps) return makeError(Error::Code::kInvalidArgument, "more than 64 addresses");
  clearIdentity(pc);
  pc.vm = id.vm();
  pc.vm_uuid = id.uuid();
  pc.segment = id.segment();
  if (!id.mac().empty()) {
    auto m = MacAddr::parse(id.mac());
    if (!m) return makeError(Error::Code::kInvalidArgument, "mac '" + id.mac() + "' is not an Ethernet address");
    if (m->isMulticast())
      return makeError(Error::Code::kInvalidArgument, "mac '" + id.mac() + "' is a multicast address");
    pc.mac = *m;
  }
  for (const auto& s : id.ips()) {
    auto ip = IpAddr::parse(s);
    if (!ip) return makeError(Error::Code::kInvalidArgument, "'" + s + "' is not an IPv4 or IPv6 address");
    if (std::find(pc.ips.begin(), pc.ips.end(), *ip) == pc.ips.end()) pc.ips.push_back(*ip);
  }
  for (const auto& [k, v] : id.labels()) {
    if (k.empty() || k.size() > kMaxName || v.size() > kMaxName)
      return makeError(Error::Code::kInvalidArgument, "label keys must be 1-256 characters, values at most 256");
    pc.labels[k] = v;
  }
  return {};
}

}  // namespace

proto::SetIdentitiesResponse SwitchImpl::setIdentities(const proto::SetIdentitiesRequest& req) {
  proto::SetIdentitiesResponse out;
  std::vector<PortConfig> next = sw_.ports;
  std::vector<bool> listed(next.size(), false);
  std::vector<proto::IdentityResult*> resultOf(next.size(), nullptr);
  const std::string source = req.source().empty() ? "a control client" : req.source().substr(0, kMaxName);

  for (const auto& id : req.ports()) {
    auto* r = out.add_results();
    r->set_socket(id.socket());
    r->set_vm(id.vm());
    int idx = -1;
    const std::string sock = id.socket().empty() ? "" : std::filesystem::path(id.socket()).lexically_normal().string();
    for (size_t p = 0; p < next.size(); ++p)
      if ((!id.port().empty() && next[p].name == id.port()) ||
          (id.port().empty() && !sock.empty() && vhostSocketOf(next[p]) == sock))
        idx = static_cast<int>(p);
    if (id.port().empty() && sock.empty()) {
      r->set_error("neither a port name nor a vhost-user socket given");
      continue;
    }
    if (idx < 0) {
      r->set_error(id.port().empty() ? "no vhost-user port of this switch has iface=" + sock
                                     : "no port named '" + id.port() + "'");
      continue;
    }
    PortConfig& pc = next[idx];
    r->set_port(pc.name);
    if (!pc.hostmon) {
      r->set_error("port '" + pc.name + "' takes its identity from " + sw_.source_file + " (identity: config)");
      continue;
    }
    if (listed[idx]) {
      r->set_error("port '" + pc.name + "' is named twice in one request");
      continue;
    }
    if (auto a = applyIdentity(id, pc); !a) {
      pc = sw_.ports[idx];  // keep what it had
      r->set_error(a.error().message);
      continue;
    }
    listed[idx] = true;
    resultOf[idx] = r;
    r->set_ok(true);
  }
  if (req.replace())
    for (size_t p = 0; p < next.size(); ++p)
      if (next[p].hostmon && !listed[p]) clearIdentity(next[p]);
  // An address is one VM's: a port that already has it keeps it; one given it in this request
  // while another port has it does not get it (the rest of its binding stands).
  std::map<IpAddr, size_t> owner;
  for (int pass = 0; pass < 2; ++pass)
    for (size_t p = 0; p < next.size(); ++p) {
      const bool had = pass == 0;  // first the ports whose binding is unchanged
      if ((next[p].ips == sw_.ports[p].ips) != had) continue;
      auto& ips = next[p].ips;
      for (auto it = ips.begin(); it != ips.end();) {
        auto [o, fresh] = owner.emplace(*it, p);
        if (fresh || o->second == p) {
          ++it;
          continue;
        }
        if (resultOf[p]) {
          const std::string msg = "address " + it->toString() + " is bound to port '" + next[o->second].name + "'" +
                                  (next[o->second].vm.empty() ? "" : " (VM '" + next[o->second].vm + "')") +
                                  "; not bound here";
          resultOf[p]->set_error(resultOf[p]->error().empty() ? msg : resultOf[p]->error() + "; " + msg);
        }
        it = ips.erase(it);
      }
    }

  std::vector<size_t> changed;
  for (size_t p = 0; p < next.size(); ++p)
    if (!sameIdentity(next[p], sw_.ports[p])) changed.push_back(p);

  if (!changed.empty()) {
    std::vector<PortConfig> before = sw_.ports;
    sw_.ports = next;
    std::string why = "identity of port";
    for (size_t p : changed) why += " " + next[p].name;
    if (auto r = publisher_.publish(segs_, publisher_.quarantined(), why + " from " + source); !r) {
      sw_.ports = std::move(before);
      for (auto& res : *out.mutable_results())
        if (res.ok()) res.set_ok(false), res.set_error("not applied: " + r.error().message);
      out.set_policy_version(publisher_.generation());
      return out;
    }
    out.set_changed(true);
    // A VM that left a port (stopped, moved, replaced) takes its connections with it.
    for (size_t p : changed) {
      const PortConfig& was = before[p];
      const PortConfig& now = sw_.ports[p];
      if (!was.vm.empty() && (was.vm != now.vm || was.vm_uuid != now.vm_uuid)) {
        FlowQuery q;
        q.port = static_cast<int>(p);
        for (const auto& w : workers_) {
          uint64_t n = 0;
          if (askWorker(*w, Mailbox::Cmd::kFlushPort, q, nullptr, &n)) out.set_flows_cleared(out.flows_cleared() + n);
        }
      }
      const CompiledPolicy* pol = publisher_.policy();
      const std::string seg = pol->segmentName(pol->portSegment(static_cast<uint16_t>(p)));
      proto::AlertEvent ev;
      alerts::setKind(ev, now.vm.empty() ? alerts::Kind::kVmUnbound : alerts::Kind::kVmBound);
      ev.set_action(now.vm.empty() ? "close" : "bind");
      ev.set_port(now.name);
      ev.set_vm(now.vm.empty() ? was.vm : now.vm);
      ev.set_segment(seg);
      ev.set_policy_version(publisher_.generation());
      ev.set_message(now.vm.empty()
                         ? "VM '" + was.vm + "' left port '" + now.name + "' (" + source + "); the port is closed"
                         : "port '" + now.name + "' is VM '" + now.vm + "' (" + source + "), segment " + seg);
      raise(ev, ev.kind() + "|" + now.name + "|" + std::to_string(publisher_.generation()));
    }
  }
  const CompiledPolicy* pol = publisher_.policy();
  for (size_t p = 0; p < next.size(); ++p) {
    if (!resultOf[p]) continue;
    const uint16_t seg = pol->portSegment(static_cast<uint16_t>(p));
    resultOf[p]->set_segment(pol->segmentName(seg));
    if (!sw_.ports[p].segment.empty() && seg == kSegUnassigned)
      resultOf[p]->set_error("segment '" + sw_.ports[p].segment +
                             "' is not defined in the segment files; the port stays closed");
  }
  out.set_policy_version(publisher_.generation());
  return out;
}

}  // namespace goldgate::dataplane

// Pushing VM identity from the inventory to goldgate-switch (see switch_sync.h).
#include "switch_sync.h"

#include <chrono>
#include <cstdlib>
#include <optional>

#include "goldgate/alerts/alert_log.h"
#include "goldgate/dataplane/control_client.h"

namespace goldgate::hostmon {

bool boundState(VmState s) {
  switch (s) {
    case VmState::kRunning:
    case VmState::kBlocked:
    case VmState::kPaused:
    case VmState::kShutdown:  // shutting down: still running
    case VmState::kPmSuspended: return true;
    default: return false;
  }
}

proto::SetIdentitiesRequest desiredIdentities(const std::vector<VmRecord>& vms, const AddressSource& addresses,
                                              const std::string& source,
                                              const std::map<std::string, std::string>* segments) {
  proto::SetIdentitiesRequest req;
  req.set_replace(true);
  req.set_source(source);
  for (const auto& vm : vms) {
    if (!boundState(vm.state) || !vm.parse_error.empty()) continue;
    for (const auto& nic : vm.info.nics) {
      if (nic.type != "vhostuser" || nic.source.empty()) continue;
      auto* id = req.add_ports();
      id->set_socket(nic.source);
      id->set_vm(vm.info.name);
      id->set_uuid(vm.info.uuid);
      id->set_mac(nic.mac);
      if (addresses)
        for (const auto& a : addresses(vm, nic.mac)) id->add_ips(a);
      for (const auto& [k, v] : vm.info.labels.extra) (*id->mutable_labels())[k] = v;
      if (!vm.info.labels.app.empty()) (*id->mutable_labels())["app"] = vm.info.labels.app;
      id->set_segment(vm.info.labels.segment);
      if (segments)
        if (auto it = segments->find(vm.info.uuid); it != segments->end()) id->set_segment(it->second);
    }
  }
  return req;
}

SwitchSync::SwitchSync(SwitchSyncOptions opts, const Inventory& inv) : opts_(std::move(opts)), inv_(inv) {}

SwitchSync::~SwitchSync() { stop(); }

void SwitchSync::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { loop(); });
}

void SwitchSync::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SwitchSync::wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void SwitchSync::loop() {
  while (!stop_.load()) {
    (void)pushOnce();
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(opts_.interval_ms), [this] { return woken_ || stop_.load(); });
    woken_ = false;
  }
}

FlowsView flowsFromSwitch(const proto::FlowsResponse& resp, const std::string& port, int64_t nowNs) {
  FlowsView v;
  v.seen = {"goldgate-switch", Trust::kHypervisorObserved, nowNs};
  v.ports = {port};
  v.truncated = resp.truncated();
  for (const auto& e : resp.flows()) {
    SwitchFlow f;
    f.protocol = e.protocol();
    f.inbound = e.in_port() != port;  // the other side sent the first packet
    f.local = f.inbound ? e.dst() : e.src();
    f.remote = f.inbound ? e.src() : e.dst();
    if (auto c = f.local.rfind(':'); c != std::string::npos) {
      unsigned long p = std::strtoul(f.local.c_str() + c + 1, nullptr, 10);
      f.local_port = p <= 65535 ? static_cast<uint16_t>(p) : 0;
    }
    f.state = e.state();
    f.packets_from_vm = f.inbound ? e.packets_reply() : e.packets_orig();
    f.classes.assign(e.classes().begin(), e.classes().end());
    f.age_ms = e.age_ms();
    v.flows.push_back(std::move(f));
  }
  return v;
}

void SwitchSync::fetchFlows(const proto::SetIdentitiesRequest& sent, const proto::SetIdentitiesResponse& ans) {
  // The bound ports of each VM, by UUID (the answer names the port, the request the UUID).
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> ports;  // uuid -> name, ports
  std::map<std::string, const proto::PortIdentity*> bySocket;
  for (const auto& id : sent.ports()) bySocket[id.socket()] = &id;
  for (const auto& r : ans.results()) {
    auto it = bySocket.find(r.socket());
    if (!r.ok() || r.port().empty() || it == bySocket.end()) continue;
    auto& e = ports[it->second->uuid()];
    e.first = it->second->vm();
    e.second.push_back(r.port());
  }
  for (auto& [uuid, np] : ports) {
    FlowsView all;
    bool answered = false;
    for (const auto& port : np.second) {
      proto::Request q;
      q.mutable_flows()->set_port(port);
      q.mutable_flows()->set_limit(opts_.flow_limit);
      auto resp = dataplane::callSwitch(opts_.socket, q, opts_.timeout_ms);
      if (!resp || !resp->ok()) continue;
      FlowsView v = flowsFromSwitch(resp->flows(), port, alerts::nowNs());
      all.seen = v.seen;
      all.ports.push_back(port);
      all.truncated = all.truncated || v.truncated;
      all.flows.insert(all.flows.end(), v.flows.begin(), v.flows.end());
      answered = true;
    }
    if (answered) opts_.flows(uuid, np.first, std::move(all));
  }
}

Result<void> SwitchSync::overrideSegment(const std::string& uuid, const std::string& segment) {
  std::optional<std::string> before;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = segment_override_.find(uuid); it != segment_override_.end()) before = it->second;
    if (segment.empty()) segment_override_.erase(uuid);
    else segment_override_[uuid] = segment;
  }
  // No flow fetch here: this runs inside a response, which may itself come from a flow fetch.
  auto ans = push(false);
  Result<void> out;
  if (!ans) {
    out = ans.error();
  } else {
    size_t bound = 0;
    for (const auto& r : ans->results()) {
      auto vm = inv_.find(r.vm());
      if (!vm || vm->info.uuid != uuid) continue;
      if (!r.error().empty()) {
        out = makeError(Error::Code::kInvalidArgument, "the switch refused NIC " + r.socket() + ": " + r.error());
        break;
      }
      if (!segment.empty() && r.segment() != segment) {
        out = makeError(Error::Code::kInvalidArgument,
                        "port " + r.port() + " is in segment " + r.segment() + ", not " + segment);
        break;
      }
      ++bound;
    }
    if (out && bound == 0) out = makeError(Error::Code::kNotFound, "the VM has no NIC bound on the switch");
  }
  if (!out) {
    // A segment the switch will not take must not stay in every later push: back to what was.
    {
      std::lock_guard<std::mutex> l(mu_);
      if (before) segment_override_[uuid] = *before;
      else segment_override_.erase(uuid);
    }
    (void)push(false);
  }
  return out;
}

Result<proto::SetIdentitiesResponse> SwitchSync::pushOnce() { return push(true); }

Result<proto::SetIdentitiesResponse> SwitchSync::push(bool withFlows) {
  std::unique_lock<std::mutex> serial(push_mu_);
  proto::Request req;
  {
    std::map<std::string, std::string> overrides;
    {
      std::lock_guard<std::mutex> l(mu_);
      overrides = segment_override_;
    }
    *req.mutable_set_identities() = desiredIdentities(inv_.snapshot(), opts_.addresses, opts_.source, &overrides);
  }
  auto resp = dataplane::callSwitch(opts_.socket, req, opts_.timeout_ms);
  std::string failure;
  if (!resp) failure = resp.error().message;
  else if (!resp->ok()) failure = "the switch refused: " + resp->error();
  std::vector<std::string> news;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!failure.empty()) {
      if (reachable_ || !ever_answered_) {
        if (reachable_ || last_error_ != failure)
          news.push_back("switch: cannot push VM identity: " + failure + " (retrying)");
      }
      reachable_ = false;
      last_error_ = failure;
    } else {
      if (!reachable_) news.push_back("switch: pushing VM identity to " + opts_.socket);
      reachable_ = true;
      ever_answered_ = true;
      last_error_.clear();
      ++pushes_;
      const auto& ans = resp->identities();
      if (ans.changed()) ++changes_;
      policy_version_ = ans.policy_version();
      by_socket_.clear();
      std::map<std::string, std::string> logged;
      for (const auto& r : ans.results()) {
        by_socket_[r.socket()] = r;
        if (!r.error().empty()) {
          // Say each refusal once, not every interval.
          if (logged_[r.socket()] != r.error())
            news.push_back("switch: VM " + r.vm() + " NIC " + r.socket() + ": " + r.error());
          logged[r.socket()] = r.error();
        }
      }
      logged_ = std::move(logged);
      if (ans.changed())
        news.push_back(
            "switch: identities applied, policy version " + std::to_string(ans.policy_version()) +
            (ans.flows_cleared() ? ", " + std::to_string(ans.flows_cleared()) + " connection(s) cleared" : ""));
    }
  }
  if (opts_.log)
    for (const auto& n : news) opts_.log(n);
  if (!failure.empty()) return makeError(resp ? Error::Code::kInvalidArgument : resp.error().code, failure);
  // The flow sink may judge the VM and run a response that pushes again (harden): it is called
  // without the push lock held.
  serial.unlock();
  if (withFlows && opts_.flows) fetchFlows(req.set_identities(), resp->identities());
  return resp->identities();
}

void SwitchSync::decorate(proto::HostmonResponse& resp) const {
  std::lock_guard<std::mutex> l(mu_);
  auto* st = resp.mutable_status();
  st->set_switch_socket(opts_.socket);
  st->set_switch_reachable(reachable_);
  st->set_switch_pushes(pushes_);
  st->set_switch_changes(changes_);
  st->set_switch_error(last_error_);
  st->set_switch_policy_version(policy_version_);
  auto fill = [&](proto::VmRecord& vm) {
    for (auto& nic : *vm.mutable_nics()) {
      auto it = by_socket_.find(nic.source());
      if (nic.type() != "vhostuser" || it == by_socket_.end()) continue;
      nic.set_switch_port(it->second.port());
      nic.set_switch_segment(it->second.segment());
      nic.set_switch_error(it->second.error());
    }
  };
  if (resp.has_vm()) fill(*resp.mutable_vm());
  if (resp.has_list_vms())
    for (auto& vm : *resp.mutable_list_vms()->mutable_vms()) fill(vm);
}

}  // namespace goldgate::hostmon

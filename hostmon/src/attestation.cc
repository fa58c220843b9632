#include "attestation.h"

#include <algorithm>
#include <set>

#include "goldgate/alerts/alert_log.h"
#include "goldgate/alerts/kinds.h"
#include "goldgate/attest/responses.h"

namespace goldgate::hostmon {
namespace {

bool selects(const proto::ManifestSelector& s, const VmRecord& vm) {
  if (std::find(s.vms().begin(), s.vms().end(), vm.info.name) != s.vms().end()) return true;
  if (std::find(s.uuids().begin(), s.uuids().end(), vm.info.uuid) != s.uuids().end()) return true;
  if (s.labels().empty()) return false;
  for (const auto& [k, v] : s.labels()) {
    std::string have;
    if (k == "app") have = vm.info.labels.app;
    else if (k == "segment") have = vm.info.labels.segment;
    else if (auto it = vm.info.labels.extra.find(k); it != vm.info.labels.extra.end()) have = it->second;
    else return false;
    if (have != v) return false;
  }
  return true;
}

// The action that undoes a response in force, as the record names it.
std::string undoName(const std::string& action) {
  const auto* a = attest::findResponseAction(action);
  return a && !a->undo.empty() ? std::string(a->undo) : "undo";
}

bool undoable(const std::string& action) {
  const auto* a = attest::findResponseAction(action);
  return a && !a->undo.empty();
}

// What the VM's view shows while `action` is in force.
void show(proto::VmAttestation& view, const std::string& action, bool on) {
  const auto* a = attest::findResponseAction(action);
  switch (a ? a->shown : attest::ShownAs::kNothing) {
    case attest::ShownAs::kQuarantined: view.set_quarantined(on); break;
    case attest::ShownAs::kHardened: view.set_hardened(on); break;
    case attest::ShownAs::kSuspended: view.set_suspended(on); break;
    case attest::ShownAs::kNothing: break;
  }
}

}  // namespace

AttestService::AttestService(const Inventory& inv, const GuestStateStore& store, ResponseExecutor* exec,
                             AlertSink alerts, std::function<void(const std::string&)> log)
    : inv_(inv), store_(store), exec_(exec), alerts_(std::move(alerts)), log_(std::move(log)) {}

void AttestService::setManifests(std::vector<AcceptedManifest> accepted, std::vector<proto::ManifestStatus> statuses) {
  std::lock_guard<std::mutex> l(mu_);
  manifests_ = std::move(accepted);
  statuses_ = std::move(statuses);
}

void AttestService::setZones(std::vector<PeerDirectory::Zone> zones) {
  std::lock_guard<std::mutex> l(mu_);
  zones_ = std::move(zones);
}

const AcceptedManifest* AttestService::manifestFor(const VmRecord& vm) const {
  if (!vm.info.labels.manifest.empty()) {
    for (const auto& m : manifests_)
      if (m.manifest.app() == vm.info.labels.manifest) return &m;
  }
  for (const auto& m : manifests_)
    if (selects(m.manifest.applies_to(), vm)) return &m;
  return nullptr;
}

PeerDirectory AttestService::peers() const {
  PeerDirectory d;
  d.zones = zones_;
  for (const auto& vm : inv_.snapshot()) {
    auto gs = store_.find(vm.info.uuid);
    if (!gs || !gs->agent) continue;
    PeerDirectory::Owner o{vm.info.name, vm.info.labels.app, vm.info.labels.segment};
    if (const auto* m = manifestFor(vm)) o.app = m->manifest.app();
    for (const auto& i : gs->agent->interfaces)
      for (const auto& a : i.addresses) {
        std::string ip = a.substr(0, a.find('/'));
        if (ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("fe80:", 0) == 0) continue;
        d.by_ip[ip] = o;
      }
  }
  return d;
}

void AttestService::check(const std::string& uuid) {
  auto rec = inv_.find(uuid);
  auto gs = store_.find(uuid);
  if (!rec || !gs) return;
  std::optional<AcceptedManifest> m;
  std::vector<proto::RedFlag> fresh;
  const int64_t now = alerts::nowNs();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& ls : learning_)
      if (ls.uuid == uuid && ls.states.size() < kMaxLearnStates) ls.states.push_back(*gs);
    VmAttest& v = vms_[uuid];
    const AcceptedManifest* am = manifestFor(*rec);
    v.view.set_last_check_unix_ns(now);
    if (!am) {
      v.view.set_state("no-manifest");
      v.view.clear_items();
      return;
    }
    m = *am;
    if (v.app != am->manifest.app() || v.version != am->manifest.version()) {
      // A new manifest: what it allows is judged afresh; past red flags stay in the record.
      v.app = am->manifest.app();
      v.version = am->manifest.version();
      v.flag_index.clear();
    }
    v.view.set_app(am->manifest.app());
    v.view.set_manifest_version(am->manifest.version());
    v.view.clear_signers();
    for (const auto& s : am->signers) v.view.add_signers(s);
    v.view.set_expires_unix(am->manifest.expires_unix());
    v.view.set_manifest_file(am->file);
    for (const auto& st : statuses_)
      if (st.app() == am->manifest.app() && !st.accepted()) v.view.set_manifest_error(st.file() + ": " + st.error());
    Judgement j = judge(am->manifest, *gs, peers());
    v.view.clear_items();
    for (auto& i : j.items) *v.view.add_items() = std::move(i);
    std::set<std::string> active;
    for (const auto& d : j.deviations) {
      std::string key = d.kind + "|" + d.subject;
      if (!active.insert(key).second) continue;
      auto it = v.flag_index.find(key);
      const int64_t seen = d.observed_ns ? d.observed_ns : now;
      if (it != v.flag_index.end()) {
        // Counted once per new observation that shows it (not once per check: a flow fetch
        // re-judges an agent view that has not changed).
        auto* f = v.view.mutable_red_flags(static_cast<int>(it->second));
        if (seen > f->last_unix_ns()) {
          f->set_last_unix_ns(seen);
          f->set_count(f->count() + 1);
        }
        // The latest evidence, and where it came from (memory may see a process before the agent).
        f->set_observed(d.observed);
        f->set_source(d.source);
        f->set_trust(trustName(d.trust));
        continue;
      }
      proto::RedFlag f;
      f.set_id(next_flag_++);
      f.set_kind(d.kind);
      f.set_severity(severityName(d.severity));
      f.set_summary(d.kind + ": " + d.subject);
      f.set_expected(d.expected);
      f.set_observed(d.observed);
      f.set_source(d.source);
      f.set_trust(trustName(d.trust));
      f.set_first_unix_ns(seen);
      f.set_last_unix_ns(seen);
      f.set_count(1);
      v.flag_index[key] = static_cast<size_t>(v.view.red_flags_size());
      *v.view.add_red_flags() = f;
      fresh.push_back(std::move(f));
    }
    // A deviation that went away and comes back is a new occurrence: it is flagged and answered again.
    for (auto it = v.flag_index.begin(); it != v.flag_index.end();)
      it = active.count(it->first) ? std::next(it) : v.flag_index.erase(it);
    v.view.set_state(j.deviations.empty() ? "verified" : "deviating");
  }
  for (const auto& f : fresh) {
    auto actions = responseActions(m->manifest, f.kind());
    if (alerts_) {
      proto::AlertEvent ev;
      alerts::setKind(ev, alerts::Kind::kAttest, f.kind());
      ev.set_vm(rec->info.name);
      ev.set_segment(rec->info.labels.segment);
      std::string acts;
      for (const auto& a : actions) acts += (acts.empty() ? "" : ",") + a;
      ev.set_action(acts);
      ev.set_message(rec->info.name + ": red flag " + std::to_string(f.id()) + " " + f.summary() + " (" + f.trust() +
                     ", " + f.source() + "): " + f.observed());
      auto* mc = ev.mutable_manifest();
      mc->set_name(m->manifest.app());
      mc->set_version(std::to_string(m->manifest.version()));
      mc->set_expectation(f.expected());
      mc->set_evidence(f.observed());
      alerts_(ev, "redflag|" + uuid + "|" + f.summary());
    }
    if (log_) log_("red flag " + rec->info.name + ": " + f.summary() + ": " + f.observed());
    respond(*rec, *m, f, actions);
  }
}

void AttestService::respond(const VmRecord& vm, const AcceptedManifest& m, const proto::RedFlag& flag,
                            const std::vector<std::string>& actions) {
  std::lock_guard<std::mutex> serial(respond_mu_);
  const std::string trigger = "red-flag " + std::to_string(flag.id()) + " (" + flag.kind() + ")";
  bool confirm = false;
  for (const auto& r : m.manifest.responses())
    if (r.kind() == flag.kind()) confirm = r.confirm();
  for (std::string action : actions) {
    if (action == "alert") continue;
    if (action == "block") {
      // The derived policy refuses undeclared connections at their first packet; one the switch
      // carries means its policy is not derived from this manifest. Said, not guessed around.
      auto rec = record(vm.info.uuid, "block", "failed", trigger,
                        "the switch allowed this connection: its policy is not derived from manifest " +
                            m.manifest.app() + " (goldgatectl policy from-manifests)");
      alertAction(vm, rec, false);
      continue;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      auto& v = vms_[vm.info.uuid];
      if (undoable(action) && v.in_force[action]) continue;  // already in force
    }
    if (!confirm) {
      runAction(vm, m.manifest.app(), action, trigger, flag.id(), 0);
      continue;
    }
    auto rec = record(vm.info.uuid, action, "pending", trigger,
                      "waits for an operator: goldgatectl vm approve " + vm.info.name);
    {
      std::lock_guard<std::mutex> l(mu_);
      auto& v = vms_[vm.info.uuid];
      for (auto& f : *v.view.mutable_red_flags())
        if (f.id() == flag.id()) f.add_action_ids(rec.id());
      v.pending_app[rec.id()] = m.manifest.app();
    }
    alertAction(vm, rec, true);
  }
}

proto::ResponseAction AttestService::runAction(const VmRecord& vm, const std::string& app, std::string action,
                                               const std::string& trigger, uint64_t flagId, uint64_t pendingId) {
  Result<std::string> r = exec_ ? exec_->run(action, vm.info.name, vm.info.uuid, app)
                                : Result<std::string>(makeError(Error::Code::kInternal, "no response executor"));
  proto::ResponseAction rec;
  if (pendingId == 0) {
    rec = record(vm.info.uuid, action, r ? "done" : "failed", trigger, r ? *r : r.error().message);
  } else {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& a : *vms_[vm.info.uuid].view.mutable_actions())
      if (a.id() == pendingId) {
        a.set_state(r ? "done" : "failed");
        a.set_trigger(a.trigger() + ", approved by " + trigger);
        a.set_detail(r ? *r : r.error().message);
        a.set_unix_ns(alerts::nowNs());
        rec = a;
      }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& v = vms_[vm.info.uuid];
    if (r && undoable(action)) v.in_force[action] = true;
    if (r) show(v.view, action, true);
    if (flagId)
      for (auto& f : *v.view.mutable_red_flags())
        if (f.id() == flagId) f.add_action_ids(rec.id());
  }
  alertAction(vm, rec, r.has_value());
  return rec;
}

void AttestService::alertAction(const VmRecord& vm, const proto::ResponseAction& a, bool ok) {
  const std::string what = vm.info.name + ": " + a.action() + " " + (ok ? a.state() : "FAILED") + ", triggered by " +
                           a.trigger() + (a.detail().empty() ? "" : ": " + a.detail());
  if (alerts_) {
    proto::AlertEvent ev;
    alerts::setKind(ev, alerts::Kind::kAttestResponse);
    if (!ok) ev.set_severity(8);  // a response that failed leaves the red flag unanswered
    ev.set_vm(vm.info.name);
    ev.set_segment(vm.info.labels.segment);
    ev.set_action(a.action());
    ev.set_message(what);
    alerts_(ev, "response|" + vm.info.uuid + "|" + std::to_string(a.id()) + "|" + a.state());
  }
  if (log_) log_("response " + what);
}

Result<std::vector<proto::ResponseAction>> AttestService::approve(const std::string& nameOrUuid, uint64_t actionId,
                                                                  const std::string& by) {
  auto vm = inv_.find(nameOrUuid);
  if (!vm) return makeError(Error::Code::kNotFound, "no VM named '" + nameOrUuid + "' (nor with that UUID)");
  std::lock_guard<std::mutex> serial(respond_mu_);
  std::vector<std::pair<uint64_t, std::string>> pending;  // id, action
  std::map<uint64_t, std::string> apps;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& v = vms_[vm->info.uuid];
    for (const auto& a : v.view.actions())
      if (a.state() == "pending" && (actionId == 0 || a.id() == actionId)) pending.emplace_back(a.id(), a.action());
    apps = v.pending_app;
  }
  if (pending.empty())
    return makeError(Error::Code::kNotFound, vm->info.name + " has no pending response" +
                                                 (actionId ? " with id " + std::to_string(actionId) : std::string()));
  std::vector<proto::ResponseAction> out;
  for (const auto& [id, action] : pending) out.push_back(runAction(*vm, apps[id], action, by, 0, id));
  return out;
}

proto::ResponseAction AttestService::record(const std::string& uuid, const std::string& action,
                                            const std::string& state, const std::string& trigger,
                                            const std::string& detail) {
  std::lock_guard<std::mutex> l(mu_);
  proto::ResponseAction a;
  a.set_id(next_action_++);
  a.set_action(action);
  a.set_state(state);
  a.set_trigger(trigger);
  a.set_detail(detail);
  a.set_unix_ns(alerts::nowNs());
  *vms_[uuid].view.add_actions() = a;
  return a;
}

proto::VmAttestation AttestService::attestation(const std::string& uuid) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = vms_.find(uuid);
  if (it != vms_.end()) return it->second.view;
  proto::VmAttestation a;
  a.set_state("no-manifest");
  return a;
}

std::vector<proto::ManifestStatus> AttestService::manifests() const {
  std::lock_guard<std::mutex> l(mu_);
  auto out = statuses_;
  auto vms = inv_.snapshot();
  for (auto& st : out) {
    st.clear_vms();
    if (!st.accepted()) continue;
    for (const auto& vm : vms)
      if (const auto* m = manifestFor(vm); m && m->file == st.file()) st.add_vms(vm.info.name);
  }
  return out;
}

Result<std::vector<proto::ResponseAction>> AttestService::release(const std::string& nameOrUuid,
                                                                  const std::string& by) {
  auto vm = inv_.find(nameOrUuid);
  if (!vm) return makeError(Error::Code::kNotFound, "no VM named '" + nameOrUuid + "' (nor with that UUID)");
  std::lock_guard<std::mutex> serial(respond_mu_);
  std::vector<std::string> inForce;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [a, on] : vms_[vm->info.uuid].in_force)
      if (on) inForce.push_back(a);
  }
  std::vector<proto::ResponseAction> done;
  {
    // Responses still waiting for an approval are cancelled: the operator has dealt with the VM.
    std::lock_guard<std::mutex> l(mu_);
    for (auto& a : *vms_[vm->info.uuid].view.mutable_actions())
      if (a.state() == "pending") {
        a.set_state("cancelled");
        a.set_detail("cancelled by " + by);
        done.push_back(a);
      }
  }
  for (const auto& action : inForce) {
    auto r = exec_ ? exec_->undo(action, vm->info.name, vm->info.uuid)
                   : Result<std::string>(makeError(Error::Code::kInternal, "no response executor"));
    done.push_back(record(vm->info.uuid, undoName(action), r ? "done" : "failed", by, r ? *r : r.error().message));
    if (!r) continue;
    std::lock_guard<std::mutex> l(mu_);
    auto& v = vms_[vm->info.uuid];
    v.in_force[action] = false;
    show(v.view, action, false);
    // The flags that caused it stay acknowledged while their deviations last: the operator who
    // released the VM has seen them. One that goes away and comes back is answered again.
  }
  for (const auto& a : done) {
    if (alerts_) {
      proto::AlertEvent ev;
      alerts::setKind(ev, alerts::Kind::kAttestResponse);
      ev.set_severity(4);  // an operator undoing responses: a record, not a finding
      ev.set_vm(vm->info.name);
      ev.set_action(a.action());
      ev.set_message(vm->info.name + ": " + a.action() + " " + a.state() + " by " + by +
                     (a.detail().empty() ? "" : ": " + a.detail()));
      alerts_(ev, "response|" + vm->info.uuid + "|" + std::to_string(a.id()));
    }
    if (log_) log_(vm->info.name + ": " + a.action() + " " + a.state() + " by " + by);
  }
  return done;
}

void AttestService::manifestRejected(const proto::ManifestStatus& st) {
  if (log_) log_("manifest refused: " + st.file() + ": " + st.reason() + ": " + st.error());
  if (!alerts_) return;
  proto::AlertEvent ev;
  alerts::setKind(ev, alerts::Kind::kAttestManifestRejected);
  ev.set_action("refuse");
  ev.set_message("manifest " + st.file() + " refused (" + st.reason() + "): " + st.error() +
                 (st.app().empty() ? "" : "; " + st.app() + " stays on its last accepted manifest"));
  auto* mc = ev.mutable_manifest();
  mc->set_name(st.app());
  mc->set_version(std::to_string(st.version()));
  mc->set_expectation("a valid manifest signed by trusted keys, not expired, not older than the accepted one");
  mc->set_evidence(st.reason() + ": " + st.error());
  alerts_(ev, "manifest|" + st.file() + "|" + st.reason());
}

// --- learning ---------------------------------------------------------------------------------

void AttestService::startLearning(const std::string& nameOrUuid, uint64_t durationMs, const std::string& app,
                                  LearnDone done) {
  auto vm = inv_.find(nameOrUuid);
  if (!vm) {
    done(makeError(Error::Code::kNotFound, "no VM named '" + nameOrUuid + "' (nor with that UUID)"));
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& ls : learning_)
    if (ls.uuid == vm->info.uuid) {
      done(makeError(Error::Code::kInvalidArgument, vm->info.name + " is being learned already"));
      return;
    }
  Learning ls;
  ls.uuid = vm->info.uuid;
  ls.app = !app.empty() ? app : !vm->info.labels.app.empty() ? vm->info.labels.app : vm->info.name;
  ls.until_ns = alerts::nowNs() + static_cast<int64_t>(durationMs) * 1000000;
  // What is already known counts: the VM's state now is the first sample.
  if (auto gs = store_.find(vm->info.uuid)) ls.states.push_back(*gs);
  ls.done = std::move(done);
  learning_.push_back(std::move(ls));
  if (log_) log_("learning " + vm->info.name + " for " + std::to_string(durationMs / 1000) + " s");
}

void AttestService::tick() {
  const int64_t now = alerts::nowNs();
  std::vector<Learning> due;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = learning_.begin(); it != learning_.end();) {
      if (it->until_ns <= now) {
        due.push_back(std::move(*it));
        it = learning_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& ls : due) {
    auto vm = inv_.find(ls.uuid);
    if (!vm) {
      ls.done(makeError(Error::Code::kNotFound, "the VM went away while it was learned"));
      continue;
    }
    std::optional<proto::Manifest> base;
    PeerDirectory p;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (const auto* m = manifestFor(*vm)) base = m->manifest;
      p = peers();
    }
    proto::LearnResponse resp;
    *resp.mutable_draft() = learnManifest(ls.app, *vm, ls.states, p, base ? &*base : nullptr, now / 1000000000);
    uint32_t obs = 0, flows = 0;
    for (const auto& s : ls.states) {
      obs += s.agent ? 1 : 0;
      flows += s.flows ? static_cast<uint32_t>(s.flows->flows.size()) : 0;
    }
    resp.set_observations(obs);
    resp.set_flows(flows);
    if (to_yaml_) resp.set_yaml(to_yaml_(resp.draft()));
    if (log_)
      log_("learned " + vm->info.name + ": " + std::to_string(resp.draft().executables_size()) + " executables, " +
           std::to_string(resp.draft().listeners_size()) + " listeners, " +
           std::to_string(resp.draft().inbound_size() + resp.draft().outbound_size()) + " connections");
    ls.done(std::move(resp));
  }
}

namespace {

proto::ManifestPeer peerFor(const PeerDirectory& peers, const std::string& ip) {
  proto::ManifestPeer p;
  if (auto it = peers.by_ip.find(ip); it != peers.by_ip.end() && !it->second.app.empty()) {
    p.set_app(it->second.app);
    return p;
  }
  auto addr = IpAddr::parse(ip);
  for (const auto& z : peers.zones)
    for (const auto& c : z.cidrs)
      if (addr && c.contains(*addr)) {
        p.set_zone(z.name);
        return p;
      }
  p.set_cidr(addr && addr->family == 6 ? ip + "/128" : ip + "/32");
  return p;
}

std::string peerKey(const proto::ManifestPeer& p) { return p.SerializeAsString(); }

}  // namespace

proto::Manifest learnManifest(const std::string& app, const VmRecord& vm, const std::vector<GuestState>& states,
                              const PeerDirectory& peers, const proto::Manifest* base, int64_t nowUnix) {
  proto::Manifest m;
  m.set_schema(1);
  m.set_app(app);
  m.set_description("learned from VM " + vm.info.name);
  m.set_version(base ? base->version() + 1 : 1);
  m.set_issued_unix(nowUnix);
  m.set_expires_unix(base && base->expires_unix() > nowUnix ? base->expires_unix() : nowUnix + 90 * 86400);
  if (base) *m.mutable_applies_to() = base->applies_to();
  else m.mutable_applies_to()->add_vms(vm.info.name);
  if (base) {
    *m.mutable_responses() = base->responses();
    *m.mutable_default_actions() = base->default_actions();
  } else {
    m.add_default_actions("alert");
  }
  std::map<std::string, std::pair<std::string, std::set<std::string>>> exes;  // path → (latest hash, users)
  std::set<std::string> modules;
  std::set<std::tuple<std::string, uint32_t, std::string>> listeners;
  // (direction, proto, peer) → ports
  std::map<std::tuple<bool, std::string, std::string>, std::pair<proto::ManifestPeer, std::set<uint32_t>>> conns;
  std::map<std::string, std::map<std::string, proto::ManifestPeer>> classes;
  std::set<std::string> memoryExes, memoryModules;
  for (const auto& s : states) {
    if (s.agent) {
      std::map<int32_t, std::string> exeOf;
      for (const auto& p : s.agent->processes) {
        exeOf[p.pid] = p.exe;
        if (p.exe.empty() || p.exe.find(" (deleted)") != std::string::npos) continue;
        auto& e = exes[p.exe];
        if (!p.sha256.empty()) e.first = p.sha256;
        if (!p.user.empty()) e.second.insert(p.user);
      }
      for (const auto& mod : s.agent->modules) modules.insert(mod.name);
      for (const auto& l : s.agent->listeners)
        listeners.insert({protoFamily(l.proto), l.port, l.pid >= 0 && exeOf.count(l.pid) ? exeOf[l.pid] : ""});
      const auto& k = s.agent->kernel;
      if (!k.release.empty()) m.mutable_kernel()->set_release(k.release);
      if (!k.cmdline.empty()) m.mutable_kernel()->set_cmdline_sha256(sha256Hex(k.cmdline));
    }
    if (s.memory && !s.memory->text_sha256.empty()) m.mutable_kernel()->set_text_sha256(s.memory->text_sha256);
    // What guest memory saw, too: a process or module the agent did not report (it ran between
    // two agent polls, or is hidden from the guest's tools) is still part of what the VM does.
    if (s.memory && s.memory->mode == "introspection" && !s.memory->partial) {
      for (const auto& p : s.memory->processes)
        if (!p.kernel_thread && !p.exe.empty() && p.exe != "?") memoryExes.insert(p.exe);
      for (const auto& mod : s.memory->modules) memoryModules.insert(mod.name);
    }
    if (s.flows) {
      for (const auto& f : s.flows->flows) {
        auto [ip, port] = splitEndpoint(f.remote);
        proto::ManifestPeer peer = peerFor(peers, ip);
        std::string proto = protoFamily(f.protocol);
        if (proto == "icmp6" || proto == "ipv6-icmp") proto = "icmp";
        auto& c = conns[{f.inbound, proto, peerKey(peer)}];
        c.first = peer;
        if (proto == "tcp" || proto == "udp") c.second.insert(f.inbound ? f.local_port : port);
        for (const auto& cls : f.classes) classes[cls][peerKey(peer)] = peer;
      }
    }
  }
  // Seen only in memory: declared without a hash (memory gives the path, not the file), and named
  // in the description so that a reviewer looks at them before signing.
  std::vector<std::string> memoryOnly;
  for (const auto& path : memoryExes)
    if (!exes.count(path)) {
      exes[path];
      memoryOnly.push_back(path);
    }
  for (const auto& name : memoryModules)
    if (modules.insert(name).second) memoryOnly.push_back("module " + name);
  if (!memoryOnly.empty()) {
    std::string d = m.description() + "; seen only in guest memory (no hash):";
    for (const auto& x : memoryOnly) d += " " + x;
    m.set_description(d);
  }
  for (const auto& [path, e] : exes) {
    auto* x = m.add_executables();
    x->set_path(path);
    x->set_sha256(e.first);
    for (const auto& u : e.second) x->add_users(u);
  }
  for (const auto& name : modules) m.mutable_kernel()->add_modules()->set_name(name);
  std::set<std::pair<std::string, uint32_t>> seenListener;
  for (const auto& [proto, port, exe] : listeners) {
    if (!seenListener.insert({proto, port}).second) continue;  // one entry per port (tcp and tcp6 alike)
    auto* l = m.add_listeners();
    l->set_proto(proto);
    l->set_port(port);
    l->set_process(exe);
  }
  for (const auto& [key, c] : conns) {
    auto* x = std::get<0>(key) ? m.add_inbound() : m.add_outbound();
    x->set_proto(std::get<1>(key));
    *x->mutable_peer() = c.first;
    for (uint32_t p : c.second) {
      auto* r = x->add_ports();
      r->set_first(p);
      r->set_last(p);
    }
  }
  for (const auto& [cls, to] : classes) {
    auto* d = m.add_data_classes();
    d->set_class_name(cls);
    for (const auto& [k, p] : to) *d->add_to() = p;
  }
  return m;
}

}  // namespace goldgate::hostmon

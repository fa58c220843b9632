// Unit tests of judging a VM against its manifest (manifest_check) and of the attestation service:
// red flags and their aggregation, responses through a fake executor and their undoing, the
// manifest selection, and learning a draft from observations.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "attestation.h"
#include "manifest_check.h"

using namespace goldgate;
using namespace goldgate::hostmon;

namespace {

const std::string kNginxHash(64, 'a');
const std::string kOtherHash(64, 'b');

proto::Manifest webManifest() {
  proto::Manifest m;
  m.set_schema(1);
  m.set_app("web");
  m.set_version(3);
  m.set_expires_unix(4102444800);
  m.mutable_applies_to()->add_vms("web1");
  auto* e = m.add_executables();
  e->set_path("/usr/sbin/nginx");
  e->set_sha256(kNginxHash);
  e->add_users("www-data");
  m.add_executables()->set_path("/bin/sh");
  m.mutable_kernel()->set_release("6.1.0-27-amd64");
  m.mutable_kernel()->add_modules()->set_name("virtio_net");
  auto* l = m.add_listeners();
  l->set_proto("tcp");
  l->set_port(80);
  l->set_process("/usr/sbin/nginx");
  auto* in = m.add_inbound();
  in->set_proto("tcp");
  in->mutable_peer()->set_zone("external");
  auto* r = in->add_ports();
  r->set_first(80);
  r->set_last(80);
  auto* out = m.add_outbound();
  out->set_proto("tcp");
  out->mutable_peer()->set_app("db");
  r = out->add_ports();
  r->set_first(5432);
  r->set_last(5432);
  auto* dc = m.add_data_classes();
  dc->set_class_name("email");
  dc->add_to()->set_app("db");
  auto* resp = m.add_responses();
  resp->set_kind("unknown_executable");
  resp->add_actions("quarantine");
  m.add_default_actions("alert");
  return m;
}

GuestProcess proc(int pid, const std::string& exe, const std::string& hash, const std::string& user = "www-data") {
  GuestProcess p;
  p.pid = pid;
  p.exe = exe;
  p.sha256 = hash;
  p.user = user;
  p.cmdline = exe;
  return p;
}

// A state that matches webManifest() exactly.
GuestState goodState() {
  GuestState s;
  s.uuid = "u-web";
  s.name = "web1";
  AgentView a;
  Provenance p{"qemu-agent", Trust::kGuestReported, 1000};
  a.kernel.seen = p;
  a.kernel.release = "6.1.0-27-amd64";
  a.modules_seen = a.processes_seen = a.listeners_seen = a.interfaces_seen = p;
  a.processes = {proc(100, "/usr/sbin/nginx", kNginxHash), proc(101, "/bin/sh", kOtherHash, "root")};
  a.modules = {{"virtio_net", 1, 1, "Live", ""}};
  a.listeners = {{"tcp", "0.0.0.0", 80, 7, 100}, {"tcp6", "::", 80, 8, 100}};
  a.interfaces = {{"eth0", "52:54:00:00:00:01", {"10.0.0.10/24"}}};
  s.agent = a;
  FlowsView f;
  f.seen = {"goldgate-switch", Trust::kHypervisorObserved, 2000};
  SwitchFlow in{"tcp", "10.0.0.10:80", "198.51.100.7:40000", 80, true, "established", 3, {}, 10};
  SwitchFlow out{"tcp", "10.0.0.10:41000", "10.0.0.20:5432", 41000, false, "established", 3, {"email"}, 10};
  f.flows = {in, out};
  s.flows = f;
  return s;
}

PeerDirectory directory() {
  PeerDirectory d;
  d.by_ip["10.0.0.10"] = {"web1", "web", "web"};
  d.by_ip["10.0.0.20"] = {"db1", "db", "db"};
  return d;
}

std::vector<std::string> kinds(const Judgement& j) {
  std::vector<std::string> k;
  for (const auto& d : j.deviations) k.push_back(d.kind + " " + d.subject);
  return k;
}

}  // namespace

TEST_CASE("a VM that does what its manifest declares has no deviation, and every item is shown", "[attest]") {
  auto j = judge(webManifest(), goodState(), directory());
  CHECK(kinds(j).empty());
  size_t ok = 0;
  for (const auto& i : j.items) ok += i.status() == "ok";
  CHECK(ok >= 7);  // nginx, sh, virtio_net, release, tcp/80, inbound, outbound, email
}

TEST_CASE("each kind of deviation is found with its evidence and trust", "[attest]") {
  auto s = goodState();
  auto& a = *s.agent;
  a.processes.push_back(proc(200, "/tmp/x", kOtherHash, "root"));           // unknown executable
  a.processes[0].sha256 = kOtherHash;                                       // nginx replaced
  a.processes.push_back(proc(201, "/usr/sbin/nginx", kNginxHash, "root"));  // wrong user
  a.modules.push_back({"evil", 1, 0, "Live", "(OE)"});
  a.kernel.release = "6.1.0-99-amd64";
  a.listeners.push_back({"tcp", "0.0.0.0", 4444, 9, 200});
  s.flows->flows.push_back({"tcp", "10.0.0.10:42000", "203.0.113.9:25", 42000, false, "syn_sent", 1, {}, 1});
  s.flows->flows.push_back(
      {"tcp", "10.0.0.10:42001", "203.0.113.9:443", 42001, false, "established", 1, {"payment-card"}, 1});
  s.flows->flows[1].classes.push_back("email");
  s.flows->flows.push_back(
      {"tcp", "10.0.0.10:42002", "203.0.113.10:5432", 42002, false, "established", 1, {"email"}, 1});
  Observation dis{"disagreement.flow_without_socket",
                  "tcp port 4445 inbound",
                  "goldgate-switch+qemu-agent",
                  Trust::kHypervisorObserved,
                  5,
                  5,
                  1};
  s.recent.push_back(dis);
  auto j = judge(webManifest(), s, directory());
  auto k = kinds(j);
  auto has = [&](const std::string& x) { return std::find(k.begin(), k.end(), x) != k.end(); };
  CHECK(has("unknown_executable /tmp/x"));
  CHECK(has("executable_hash /usr/sbin/nginx"));
  CHECK(has("executable_user /usr/sbin/nginx"));
  CHECK(has("unexpected_module evil"));
  CHECK(has("kernel_release release"));
  CHECK(has("unexpected_listener tcp/4444"));
  CHECK(has("unexpected_connection outbound tcp to 203.0.113.9:25"));
  CHECK(has("data_class payment-card to 203.0.113.9"));  // not declared at all
  CHECK(has("data_class email to 203.0.113.10"));        // declared, but only toward db
  CHECK(has("disagreement disagreement.flow_without_socket: tcp port 4445 inbound"));
  for (const auto& d : j.deviations) {
    if (d.kind == "unexpected_connection") CHECK(d.trust == Trust::kHypervisorObserved);
    if (d.kind == "unknown_executable") {
      CHECK(d.trust == Trust::kGuestReported);
      CHECK(d.observed.find("pid 200") != std::string::npos);
      CHECK(d.observed.find(kOtherHash) != std::string::npos);
      CHECK(d.severity == deviationSeverity("unknown_executable"));
    }
  }
  // The declared outbound to db on a port it does not declare is unexpected too.
  s = goodState();
  s.flows->flows[1].remote = "10.0.0.20:22";
  CHECK(kinds(judge(webManifest(), s, directory())) ==
        std::vector<std::string>{"unexpected_connection outbound tcp to 10.0.0.20:22"});
}

TEST_CASE("peers: cidr, app, segment, zone and external", "[attest]") {
  PeerDirectory d = directory();
  d.zones.push_back({"corp", {*Cidr::parse("192.168.0.0/16")}});
  proto::ManifestPeer p;
  p.set_cidr("10.0.0.0/24");
  CHECK(d.covers(p, "10.0.0.99"));
  CHECK_FALSE(d.covers(p, "10.0.1.1"));
  p.Clear();
  p.set_app("db");
  CHECK(d.covers(p, "10.0.0.20"));
  CHECK_FALSE(d.covers(p, "10.0.0.10"));
  p.Clear();
  p.set_zone("corp");
  CHECK(d.covers(p, "192.168.3.4"));
  p.set_zone("external");
  CHECK_FALSE(d.covers(p, "192.168.3.4"));  // in a named zone
  CHECK_FALSE(d.covers(p, "10.0.0.20"));    // a VM
  CHECK(d.covers(p, "8.8.8.8"));
  p.Clear();
  p.set_any(true);
  CHECK(d.covers(p, "10.0.0.20"));
}

namespace {

struct FakeExecutor : ResponseExecutor {
  std::vector<std::string> calls;
  bool fail = false;
  Result<std::string> run(const std::string& action, const std::string& vm, const std::string&,
                          const std::string& app) override {
    calls.push_back(action + " " + vm + " " + app);
    if (fail) return makeError(Error::Code::kIo, "switch unreachable");
    return "did " + action;
  }
  Result<std::string> undo(const std::string& action, const std::string& vm, const std::string&) override {
    calls.push_back("undo " + action + " " + vm);
    return std::string("undone");
  }
};

ObservedVm webVm() {
  ObservedVm v;
  v.info.name = "web1";
  v.info.uuid = "u-web";
  v.state = VmState::kRunning;
  return v;
}

// web1 and its database db1 (app db, its address known from its agent).
void twoVms(Inventory& inv, GuestStateStore& store) {
  inv.upsert(webVm());
  ObservedVm db;
  db.info.name = "db1";
  db.info.uuid = "u-db";
  db.info.labels.app = "db";
  db.state = VmState::kRunning;
  inv.upsert(db);
  store.update("u-db", "db1", [](GuestState& s) {
    s.agent = AgentView{};
    s.agent->interfaces = {{"eth0", "52:54:00:00:00:02", {"10.0.0.20/24"}}};
  });
}

// web1 and db1 under an attestation service whose responses go to a fake executor.
struct Service {
  Inventory inv;
  GuestStateStore store;
  FakeExecutor exec;
  std::vector<proto::AlertEvent> alerts;
  AttestService svc{
      inv, store, &exec, [this](const proto::AlertEvent& e, const std::string&) { alerts.push_back(e); }, {}};
  Service() { twoVms(inv, store); }
};

}  // namespace

TEST_CASE("the service flags a deviation once, answers it as the manifest says, and release undoes it", "[attest]") {
  Service f;
  auto& [inv, store, exec, alerts, svc] = f;
  svc.setManifests({{webManifest(), "/m/web.yaml", {"k1"}}}, {});

  store.update("u-web", "web1", [](GuestState& s) { s = goodState(); });
  svc.check("u-web");
  auto a = svc.attestation("u-web");
  CHECK(a.state() == "verified");
  CHECK(a.app() == "web");
  CHECK(a.manifest_version() == 3);
  CHECK(alerts.empty());

  store.update("u-web", "web1",
               [](GuestState& s) { s.agent->processes.push_back(proc(300, "/tmp/miner", kOtherHash, "root")); });
  svc.check("u-web");
  svc.check("u-web");  // the same observation judged again (a flow fetch): not counted again
  CHECK(svc.attestation("u-web").red_flags(0).count() == 1);
  store.update("u-web", "web1", [](GuestState& s) { s.agent->processes_seen.observed_ns += 2000; });
  svc.check("u-web");  // the next poll still sees it: aggregated, not answered twice
  a = svc.attestation("u-web");
  CHECK(a.state() == "deviating");
  REQUIRE(a.red_flags_size() == 1);
  CHECK(a.red_flags(0).kind() == "unknown_executable");
  CHECK(a.red_flags(0).count() == 2);
  CHECK(a.red_flags(0).severity() == "high");
  CHECK(exec.calls == std::vector<std::string>{"quarantine web1 web"});
  CHECK(a.quarantined());
  REQUIRE(a.actions_size() == 1);
  CHECK(a.actions(0).trigger().find("unknown_executable") != std::string::npos);
  REQUIRE(alerts.size() == 2);
  CHECK(alerts[0].kind() == "attest.unknown_executable");
  CHECK(alerts[0].manifest().name() == "web");
  CHECK(alerts[0].manifest().evidence().find("/tmp/miner") != std::string::npos);
  CHECK(alerts[1].kind() == "attest.response");
  CHECK(alerts[1].action() == "quarantine");

  auto rel = svc.release("web1", "operator:test");
  REQUIRE(rel.has_value());
  REQUIRE(rel->size() == 1);
  CHECK((*rel)[0].action() == "release");
  CHECK((*rel)[0].trigger() == "operator:test");
  CHECK(exec.calls.back() == "undo quarantine web1");
  CHECK_FALSE(svc.attestation("u-web").quarantined());
  CHECK_FALSE(svc.release("nosuch", "x").has_value());

  // Still there after the release: acknowledged, not answered again ...
  svc.check("u-web");
  CHECK(exec.calls.back() == "undo quarantine web1");
  // ... until it goes away and comes back.
  store.update("u-web", "web1", [](GuestState& s) { s.agent->processes.pop_back(); });
  svc.check("u-web");
  CHECK(svc.attestation("u-web").state() == "verified");
  store.update("u-web", "web1",
               [](GuestState& s) { s.agent->processes.push_back(proc(301, "/tmp/miner", kOtherHash, "root")); });
  svc.check("u-web");
  CHECK(exec.calls.back() == "quarantine web1 web");
  CHECK(svc.attestation("u-web").red_flags_size() == 2);  // a new occurrence is a flag of its own
}

TEST_CASE("a failed response is recorded as failed and alerted", "[attest]") {
  Inventory inv;
  GuestStateStore store;
  twoVms(inv, store);
  FakeExecutor exec;
  exec.fail = true;
  std::vector<proto::AlertEvent> alerts;
  AttestService svc(inv, store, &exec, [&](const proto::AlertEvent& e, const std::string&) { alerts.push_back(e); },
                    {});
  svc.setManifests({{webManifest(), "/m/web.yaml", {}}}, {});
  store.update("u-web", "web1", [](GuestState& s) {
    s = goodState();
    s.agent->processes.push_back(proc(300, "/tmp/x", "", "root"));
  });
  svc.check("u-web");
  auto a = svc.attestation("u-web");
  REQUIRE(a.actions_size() == 1);
  CHECK(a.actions(0).state() == "failed");
  CHECK(a.actions(0).detail() == "switch unreachable");
  CHECK_FALSE(a.quarantined());
  CHECK(alerts.back().message().find("FAILED") != std::string::npos);
}

TEST_CASE("manifest selection: metadata name, VM name, UUID, labels; none applies", "[attest]") {
  Inventory inv;
  GuestStateStore store;
  AttestService svc(inv, store, nullptr, {}, {});
  proto::Manifest byLabel;
  byLabel.set_app("shop");
  (*byLabel.mutable_applies_to()->mutable_labels())["app"] = "shop";
  (*byLabel.mutable_applies_to()->mutable_labels())["tier"] = "front";
  proto::Manifest byUuid;
  byUuid.set_app("other");
  byUuid.mutable_applies_to()->add_uuids("u-9");
  svc.setManifests({{byLabel, "a", {}}, {byUuid, "b", {}}}, {});
  VmRecord r;
  r.info.name = "x";
  r.info.uuid = "u-1";
  CHECK(svc.manifestFor(r) == nullptr);
  r.info.labels.app = "shop";
  CHECK(svc.manifestFor(r) == nullptr);  // every label must match
  r.info.labels.extra["tier"] = "front";
  REQUIRE(svc.manifestFor(r) != nullptr);
  CHECK(svc.manifestFor(r)->manifest.app() == "shop");
  r.info.labels.manifest = "other";  // the VM's metadata names its manifest
  CHECK(svc.manifestFor(r)->manifest.app() == "other");
  r = {};
  r.info.uuid = "u-9";
  CHECK(svc.manifestFor(r)->manifest.app() == "other");
}

TEST_CASE("learning drafts a manifest the VM then satisfies", "[attest]") {
  VmRecord vm;
  vm.info.name = "web1";
  vm.info.uuid = "u-web";
  auto s1 = goodState();
  auto s2 = goodState();
  s2.agent->processes.push_back(proc(400, "/usr/bin/curl", kOtherHash, "root"));
  s2.memory = MemoryView{};
  s2.memory->text_sha256 = kNginxHash;
  auto m = learnManifest("web", vm, {s1, s2}, directory(), nullptr, 1000);
  CHECK(m.app() == "web");
  CHECK(m.version() == 1);
  CHECK(m.expires_unix() > 1000);
  CHECK(m.executables_size() == 3);
  CHECK(m.listeners_size() == 1);  // tcp and tcp6 on 80 are one entry
  CHECK(m.kernel().text_sha256() == kNginxHash);
  REQUIRE(m.outbound_size() == 1);
  CHECK(m.outbound(0).peer().app() == "db");
  REQUIRE(m.inbound_size() == 1);
  CHECK(m.inbound(0).peer().cidr() == "198.51.100.7/32");
  REQUIRE(m.data_classes_size() == 1);
  CHECK(m.data_classes(0).class_name() == "email");
  CHECK(kinds(judge(m, s2, directory())).empty());
  // A draft after an active manifest follows its version and keeps its responses.
  auto base = webManifest();
  auto next = learnManifest("web", vm, {s1}, directory(), &base, 1000);
  CHECK(next.version() == 4);
  CHECK(next.responses_size() == 1);
}

TEST_CASE("a response that waits for an operator is pending until approved; release cancels it", "[attest]") {
  Service f;
  auto& [inv, store, exec, alerts, svc] = f;
  auto m = webManifest();
  m.mutable_responses(0)->set_confirm(true);  // unknown_executable: quarantine, after approval
  svc.setManifests({{m, "/m/web.yaml", {}}}, {});
  store.update("u-web", "web1", [](GuestState& s) {
    s = goodState();
    s.agent->processes.push_back(proc(300, "/tmp/x", kOtherHash, "root"));
  });
  svc.check("u-web");
  auto a = svc.attestation("u-web");
  REQUIRE(a.actions_size() == 1);
  CHECK(a.actions(0).state() == "pending");
  CHECK_FALSE(a.quarantined());
  CHECK(exec.calls.empty());
  CHECK(alerts.back().kind() == "attest.response");
  CHECK(alerts.back().message().find("pending") != std::string::npos);

  CHECK_FALSE(svc.approve("web1", 99, "operator:t").has_value());  // no such pending action
  auto done = svc.approve("web1", 0, "operator:t");
  REQUIRE(done.has_value());
  REQUIRE(done->size() == 1);
  CHECK((*done)[0].state() == "done");
  CHECK((*done)[0].trigger().find("approved by operator:t") != std::string::npos);
  CHECK(exec.calls == std::vector<std::string>{"quarantine web1 web"});
  a = svc.attestation("u-web");
  CHECK(a.quarantined());
  CHECK(a.actions_size() == 1);                                   // the pending record became the done one
  CHECK_FALSE(svc.approve("web1", 0, "operator:t").has_value());  // nothing pending any more

  // A new pending response, then release: it is cancelled, the quarantine lifted.
  store.update("u-web", "web1", [](GuestState& s) {
    s.agent->processes.push_back(proc(301, "/tmp/y", kOtherHash, "root"));
    s.agent->processes_seen.observed_ns += 1000;
  });
  svc.check("u-web");
  // The quarantine is already in force: nothing new is pending for the second executable.
  CHECK(svc.attestation("u-web").actions_size() == 1);
  auto rel = svc.release("web1", "operator:t");
  REQUIRE(rel.has_value());
  CHECK(rel->size() == 1);
  CHECK_FALSE(svc.attestation("u-web").quarantined());
}

namespace {

// goodState() with a memory view: the same processes read from guest memory, plus the agent and a
// kernel thread.
GuestState withMemory() {
  GuestState s = goodState();
  MemoryView v;
  v.seen = {"memory-peek", Trust::kHypervisorObserved, 1500};
  v.mode = "introspection";
  v.profile = "6.1.0-27-amd64-0123456789ab.json";
  v.processes = {{1, 0, 0, "init", "/usr/sbin/nginx", 1, false, 0},
                 {2, 0, 0, "kthreadd", "", 2, true, 0},
                 {100, 1, 33, "nginx", "/usr/sbin/nginx", 3, false, 0},
                 {101, 1, 0, "sh", "/bin/sh", 4, false, 0},
                 {150, 1, 0, "qemu-ga", "/usr/sbin/nginx", 5, false, 0}};
  v.modules = {{"virtio_net", 0xffffffffc0000000ull, 0x8000, 0, true, true, 0}};
  s.memory = v;
  return s;
}

}  // namespace

TEST_CASE(
    "the memory view is judged on its own: with the agent silent, a new executable and module are flagged "
    "hypervisor-observed",
    "[attest][memory]") {
  const auto m = webManifest();
  GuestState s = withMemory();
  CHECK(kinds(judge(m, s, directory())).empty());
  // The agent stops answering (its last view stays); memory sees what it no longer reports.
  s.memory->processes.push_back({666, 1, 0, "miner", "/tmp/.x/miner", 9, false, 0});
  s.memory->modules.push_back({"rootkit", 0xffffffffc0010000ull, 0x4000, 0, false, true, 0});
  auto j = judge(m, s, directory());
  REQUIRE(j.deviations.size() == 2);
  CHECK(j.deviations[0].kind == "unknown_executable");
  CHECK(j.deviations[0].subject == "/tmp/.x/miner");
  CHECK(j.deviations[0].trust == Trust::kHypervisorObserved);
  CHECK_THAT(j.deviations[0].observed, Catch::Contains("read from guest memory"));
  CHECK(j.deviations[1].kind == "unexpected_module");
  CHECK(j.deviations[1].subject == "rootkit");
  CHECK_THAT(j.deviations[1].observed, Catch::Contains("hidden from the module list"));
  // Seen by both views: flagged once, with the agent's evidence (its hash).
  s.agent->processes.push_back(proc(666, "/tmp/.x/miner", kOtherHash, "root"));
  j = judge(m, s, directory());
  size_t miner = 0;
  for (const auto& d : j.deviations) miner += d.subject == "/tmp/.x/miner";
  CHECK(miner == 1);
  // A memory view without a profile judges nothing.
  s.memory->profile.clear();
  s.agent->processes.pop_back();
  CHECK(kinds(judge(m, s, directory())) == std::vector<std::string>{});
}

TEST_CASE("the agent's own probe tools are left out of the memory judgement; the same tools elsewhere are not",
          "[attest][memory]") {
  const auto m = webManifest();
  GuestState s = withMemory();
  s.memory->processes.push_back({200, 150, 0, "sh", "/usr/bin/dash", 10, false, 0});   // under qemu-ga
  s.memory->processes.push_back({201, 200, 0, "awk", "/usr/bin/mawk", 11, false, 0});  // its child
  s.memory->processes.push_back({202, 150, 0, "evil", "/tmp/evil", 12, false, 0});     // not a probe tool
  s.memory->processes.push_back({203, 1, 0, "grep", "/usr/bin/grep", 13, false, 0});   // not under the agent
  std::vector<std::string> expect = {"unknown_executable /tmp/evil", "unknown_executable /usr/bin/grep"};
  CHECK(kinds(judge(m, s, directory())) == expect);
}

TEST_CASE("kernel.hook observations are red flags of their own kind", "[attest][memory]") {
  GuestState s = withMemory();
  s.record({"kernel.hook",
            "system-call table entry 59 points to 0xffffffffc0001000 (module rk+0x0), not into kernel text",
            "memory-peek", Trust::kHypervisorObserved, 1500, 1500, 1});
  auto j = judge(webManifest(), s, directory());
  REQUIRE(j.deviations.size() == 1);
  CHECK(j.deviations[0].kind == "kernel_hook");
  CHECK(j.deviations[0].severity == 10);
  CHECK(j.deviations[0].trust == Trust::kHypervisorObserved);
}

TEST_CASE("learning takes what guest memory saw too, and names it in the draft", "[attest][memory]") {
  VmRecord vm;
  vm.info.name = "web1";
  GuestState s = withMemory();
  s.memory->processes.push_back({300, 1, 0, "cron", "/usr/sbin/cron", 20, false, 0});
  s.memory->modules.push_back({"dummy", 0, 0, 0, true, true, 0});
  auto m = learnManifest("web", vm, {s}, directory(), nullptr, 1000);
  bool cron = false, dummy = false;
  for (const auto& e : m.executables()) cron = cron || (e.path() == "/usr/sbin/cron" && e.sha256().empty());
  for (const auto& k : m.kernel().modules()) dummy = dummy || k.name() == "dummy";
  CHECK(cron);
  CHECK(dummy);
  CHECK_THAT(m.description(), Catch::Contains("seen only in guest memory (no hash): /usr/sbin/cron module dummy"));
  CHECK(kinds(judge(m, s, directory())).empty());
}

TEST_CASE("a manifest that requires the memory view flags a VM whose kernel cannot be introspected",
          "[attest][memory]") {
  auto m = webManifest();
  m.mutable_kernel()->set_memory_view_required(true);
  GuestState s = goodState();
  CHECK(kinds(judge(m, s, directory())).empty());  // memory not tried yet: nothing to judge
  s.memory_status = "memory.error (QEMU monitor (info registers): permission denied)";
  CHECK(kinds(judge(m, s, directory())) == std::vector<std::string>{"memory_view memory view"});
  s = withMemory();
  s.memory->profile.clear();
  s.memory->problems = {"no kernel profile: 0 profile(s) in /var/lib/goldgate/kernel-profiles, none for this banner"};
  auto j = judge(m, s, directory());
  REQUIRE(j.deviations.size() == 1);
  CHECK(j.deviations[0].kind == "memory_view");
  CHECK_THAT(j.deviations[0].observed, Catch::Contains("no kernel profile"));
  CHECK(j.deviations[0].severity == 7);
  s = withMemory();
  j = judge(m, s, directory());
  CHECK(j.deviations.empty());
  bool row = false;
  for (const auto& i : j.items) row = row || (i.item() == "memory view" && i.status() == "ok");
  CHECK(row);
}

// Pushing VM identity to the switch (hostmon/src/switch_sync.cc): the request built from the
// inventory, and a push round trip against a stand-in switch that answers SetIdentities on a
// Unix socket (the real switch needs DPDK; e2e.identity drives the real one).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "goldgate/common/unix_socket.h"
#include "switch_sync.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using Catch::Matchers::Contains;

namespace {

ObservedVm vm(const std::string& name, const std::string& uuid, VmState st, const std::string& sock) {
  ObservedVm v;
  v.info.name = name;
  v.info.uuid = uuid;
  v.state = st;
  Nic n;
  n.type = "vhostuser";
  n.mac = "52:54:00:00:00:0" + name.substr(name.size() - 1);
  n.source = sock;
  v.info.nics.push_back(n);
  Nic br;
  br.type = "bridge";
  br.mac = "52:54:00:00:01:01";
  br.source = "br0";
  v.info.nics.push_back(br);
  return v;
}

// Answers `n` SetIdentities requests: every identity lands on port "p-<vm>" in segment "seg".
class FakeSwitch {
 public:
  FakeSwitch(const std::string& path, int n) {
    auto fd = ipc::listenUnix(path, "", "stand-in switch");
    REQUIRE(fd);
    fd_ = *fd;
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);  // the listener is non-blocking
    thread_ = std::thread([this, n] {
      for (int i = 0; i < n; ++i) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        ::fcntl(c, F_SETFL, ::fcntl(c, F_GETFL) & ~O_NONBLOCK);
        auto frame = ipc::readFrame(c);
        proto::Request req;
        if (frame && req.ParseFromString(*frame)) {
          last = req;
          proto::Response resp;
          resp.set_ok(true);
          auto* ans = resp.mutable_identities();
          ans->set_changed(i == 0);
          ans->set_policy_version(7);
          for (const auto& id : req.set_identities().ports()) {
            auto* r = ans->add_results();
            r->set_socket(id.socket());
            r->set_vm(id.vm());
            r->set_port("p-" + id.vm());
            r->set_segment("seg");
            r->set_ok(true);
          }
          std::string out;
          resp.SerializeToString(&out);
          (void)ipc::writeFrame(c, out);
        }
        ::close(c);
      }
    });
  }
  ~FakeSwitch() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  proto::Request last;

 private:
  int fd_ = -1;
  std::thread thread_;
};

}  // namespace

TEST_CASE("switch sync: the identities of running VMs' vhost-user NICs", "[hostmon][switch_sync]") {
  Inventory inv;
  auto web = vm("web1", "u-1", VmState::kRunning, "/run/gg/web1.sock");
  web.info.labels.app = "shop";
  web.info.labels.segment = "web";
  web.info.labels.extra["tier"] = "front";
  inv.upsert(web);
  inv.upsert(vm("db1", "u-2", VmState::kShutoff, "/run/gg/db1.sock"));
  auto broken = vm("bad1", "u-3", VmState::kRunning, "/run/gg/bad1.sock");
  broken.parse_error = "line 1: not XML";
  inv.upsert(broken);
  inv.upsert(vm("pau1", "u-4", VmState::kPaused, "/run/gg/pau1.sock"));

  auto req = desiredIdentities(
      inv.snapshot(),
      [](const VmRecord& v, const std::string& mac) {
        return v.info.name == "web1" && mac == "52:54:00:00:00:01" ? std::vector<std::string>{"10.0.0.1"}
                                                                   : std::vector<std::string>{};
      },
      "test");
  CHECK(req.replace());
  CHECK(req.source() == "test");
  // web1 (running) and pau1 (paused: its QEMU process and NIC are still there); not the stopped
  // VM, not the one whose XML could not be read, never the bridge NIC.
  REQUIRE(req.ports_size() == 2);
  const auto& p = req.ports(0).vm() == "web1" ? req.ports(0) : req.ports(1);
  CHECK(p.socket() == "/run/gg/web1.sock");
  CHECK(p.uuid() == "u-1");
  CHECK(p.mac() == "52:54:00:00:00:01");
  REQUIRE(p.ips_size() == 1);
  CHECK(p.ips(0) == "10.0.0.1");
  CHECK(p.segment() == "web");
  CHECK(p.labels().at("app") == "shop");
  CHECK(p.labels().at("tier") == "front");

  CHECK(boundState(VmState::kRunning));
  CHECK(boundState(VmState::kPaused));
  CHECK_FALSE(boundState(VmState::kShutoff));
  CHECK_FALSE(boundState(VmState::kCrashed));
}

TEST_CASE("switch sync: a push round trip, and an unreachable switch", "[hostmon][switch_sync]") {
  test::TempDir dir;
  const std::string sock = (dir.path() / "switch.sock").string();
  Inventory inv;
  inv.upsert(vm("web1", "u-1", VmState::kRunning, "/run/gg/web1.sock"));
  std::vector<std::string> log;
  SwitchSyncOptions o;
  o.socket = sock;
  o.timeout_ms = 1000;
  o.log = [&](const std::string& s) { log.push_back(s); };
  SwitchSync sync(o, inv);

  SECTION("unreachable: an error, said once, and the status says so") {
    auto r = sync.pushOnce();
    REQUIRE_FALSE(r);
    auto r2 = sync.pushOnce();
    REQUIRE_FALSE(r2);
    CHECK(log.size() == 1);
    proto::HostmonResponse resp;
    sync.decorate(resp);
    CHECK(resp.status().switch_socket() == sock);
    CHECK_FALSE(resp.status().switch_reachable());
    CHECK_FALSE(resp.status().switch_error().empty());
  }
  SECTION("reachable: the switch's answer is shown per NIC") {
    FakeSwitch fake(sock, 2);
    auto r = sync.pushOnce();
    REQUIRE(r);
    CHECK(r->changed());
    REQUIRE(fake.last.has_set_identities());
    CHECK(fake.last.set_identities().ports_size() == 1);
    auto r2 = sync.pushOnce();
    INFO((r2 ? std::string("ok") : r2.error().message));
    CHECK(r2);
    proto::HostmonResponse resp;
    auto* rec = resp.mutable_list_vms()->add_vms();
    auto* nic = rec->add_nics();
    nic->set_type("vhostuser");
    nic->set_source("/run/gg/web1.sock");
    sync.decorate(resp);
    CHECK(resp.status().switch_reachable());
    CHECK(resp.status().switch_pushes() == 2);
    CHECK(resp.status().switch_changes() == 1);
    CHECK(resp.status().switch_policy_version() == 7);
    CHECK(nic->switch_port() == "p-web1");
    CHECK(nic->switch_segment() == "seg");
  }
}

TEST_CASE("switch flows: the VM's side of each connection, and where the agent's sockets disagree",
          "[hostmon][switch_sync]") {
  proto::FlowsResponse resp;
  auto add = [&](const char* proto, const char* src, const char* dst, const char* state, const char* inPort,
                 uint64_t orig, uint64_t reply) {
    auto* e = resp.add_flows();
    e->set_protocol(proto);
    e->set_src(src);
    e->set_dst(dst);
    e->set_state(state);
    e->set_in_port(inPort);
    e->set_packets_orig(orig);
    e->set_packets_reply(reply);
    e->set_age_ms(1000);
    return e;
  };
  add("tcp", "10.0.0.1:40000", "10.0.0.2:8080", "ESTABLISHED", "vm-web1", 5, 4)->add_classes("payment-card");
  add("tcp", "10.0.0.1:40001", "10.0.0.2:4444", "ESTABLISHED", "vm-web1", 5, 4);   // no socket on 4444 in the guest
  add("tcp", "10.0.0.1:40002", "10.0.0.2:5555", "SYN_SENT", "vm-web1", 1, 0);      // never answered: no verdict
  add("udp", "10.0.0.1:5353", "10.0.0.2:9999", "UDP_UNREPLIED", "vm-web1", 3, 0);  // the VM never answered
  add("tcp", "10.0.0.2:33333", "10.0.0.9:443", "ESTABLISHED", "vm-db1", 7, 6);     // outbound
  const int64_t now = 10'000'000'000'000;
  FlowsView v = flowsFromSwitch(resp, "vm-db1", now);
  REQUIRE(v.flows.size() == 5);
  CHECK(v.seen.trust == Trust::kHypervisorObserved);
  CHECK(v.flows[0].inbound);
  CHECK(v.flows[0].local == "10.0.0.2:8080");
  CHECK(v.flows[0].remote == "10.0.0.1:40000");
  CHECK(v.flows[0].local_port == 8080);
  CHECK(v.flows[0].packets_from_vm == 4);
  CHECK(v.flows[0].classes == std::vector<std::string>{"payment-card"});
  CHECK_FALSE(v.flows[4].inbound);
  CHECK(v.flows[4].local == "10.0.0.2:33333");
  CHECK(v.flows[4].packets_from_vm == 7);

  AgentView agent;
  agent.listeners_seen.observed_ns = now - 100'000'000;  // looked 0.1 s ago, after the flows began
  GuestListener l;
  l.proto = "tcp6";
  l.addr = "::";
  l.port = 8080;
  agent.listeners.push_back(l);
  auto obs = flowDisagreements(v, &agent, now);
  REQUIRE(obs.size() == 1);
  CHECK(obs[0].kind == "disagreement.flow_without_socket");
  CHECK_THAT(obs[0].detail, Contains("10.0.0.2:4444"));
  CHECK(obs[0].trust == Trust::kHypervisorObserved);

  // A connected socket on the port is a socket too (a listener may close after accepting).
  GuestListener c = l;
  c.port = 4444;
  agent.sockets.push_back(c);
  CHECK(flowDisagreements(v, &agent, now).empty());
  // An agent view older than the flows proves nothing; no agent view at all neither.
  agent.sockets.clear();
  agent.listeners_seen.observed_ns = now - 5'000'000'000;
  CHECK(flowDisagreements(v, &agent, now).empty());
  CHECK(flowDisagreements(v, nullptr, now).empty());
}

TEST_CASE("addressDisagreements: the agent's addresses against the host's binding", "[hostmon][switch_sync]") {
  const std::map<std::string, std::vector<std::string>> bound = {{"52:54:00:00:00:02", {"10.0.0.2", "FD00:0::2"}},
                                                                 {"52:54:00:00:00:03", {}}};
  AgentView agent;
  agent.interfaces_seen.observed_ns = 5;
  agent.interfaces.push_back({"lo", "", {"127.0.0.1/8"}});  // not a switch NIC
  agent.interfaces.push_back({"eth0", "52:54:00:00:00:02", {"10.0.0.2/24", "fd00::2/64", "fe80::5054:ff:fe00:2/64"}});
  CHECK(addressDisagreements(bound, agent).empty());  // declared ones (any spelling) and link-local
  agent.interfaces[1].addresses.push_back("10.0.0.77/24");
  agent.interfaces.push_back({"eth1", "52:54:00:00:00:03", {"10.0.5.5/24"}});
  auto obs = addressDisagreements(bound, agent);
  REQUIRE(obs.size() == 2);
  CHECK(obs[0].kind == "disagreement.address");
  CHECK_THAT(obs[0].detail, Contains("reports 10.0.0.77 on 52:54:00:00:00:02, the domain binds 10.0.0.2, FD00:0::2"));
  CHECK_THAT(obs[1].detail, Contains("the domain binds no address"));
  CHECK(obs[0].trust == Trust::kGuestReported);
  CHECK(obs[0].last_ns == 5);
  // No interface report yet: nothing to compare.
  agent.interfaces_seen.observed_ns = 0;
  CHECK(addressDisagreements(bound, agent).empty());
}

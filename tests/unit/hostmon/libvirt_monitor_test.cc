// LibvirtMonitor against libvirt's test:///default driver: no daemon, events within one
// connection, state private to each connection. The tests therefore define and start domains
// through the monitor's own connection (LibvirtMonitor::connection()).
#include <catch2/catch.hpp>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "event_log.h"
#include "goldgate/common/unix_socket.h"
#include "libvirt_monitor.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using goldgate::test::EventLog;

namespace {

const char* kWebUuid = "5b1c7a2e-0d3f-4c8e-9a61-7f2b3c4d5e6f";

std::string webXml() {
  return std::string(R"(<domain type='test'>
  <name>web</name>
  <uuid>)") +
         kWebUuid + R"(</uuid>
  <metadata>
    <gg:vm xmlns:gg="https://goldgate.dev/xmlns/vm/1">
      <gg:app>web</gg:app><gg:segment>frontend</gg:segment><gg:manifest>web-v3</gg:manifest>
    </gg:vm>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='vhostuser'>
      <mac address='52:54:00:12:34:56'/>
      <source type='unix' path='/run/goldgate/vm-web.sock' mode='server'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>)";
}

struct ConnCloser {
  void operator()(virConnect* c) const { virConnectClose(c); }
};
struct DomFree {
  void operator()(virDomain* d) const { virDomainFree(d); }
};
using Conn = std::unique_ptr<virConnect, ConnCloser>;
using Dom = std::unique_ptr<virDomain, DomFree>;

MonitorOptions testOptions() {
  MonitorOptions o;
  o.uri = "test:///default";
  o.reconnect_min_ms = 10;
  o.reconnect_max_ms = 100;
  return o;
}

// A monitor on test:///default with its events logged, started and connected.
struct Started {
  Inventory inv;
  EventLog log;
  LibvirtMonitor mon{testOptions(), inv};
  Started() {
    log.attach(inv);
    auto r = mon.start();
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.has_value());
  }
  // Defines `xml` through the monitor's own connection (the only one that sees its state).
  Dom define(const std::string& xml) {
    Conn conn(mon.connection());
    REQUIRE(conn);
    Dom d(virDomainDefineXML(conn.get(), xml.c_str()));
    INFO(virGetLastErrorMessage());
    REQUIRE(d);
    return d;
  }
};

}  // namespace

TEST_CASE("LibvirtMonitor: resync on connect finds the test driver's domain", "[hostmon][libvirt]") {
  Inventory inv;
  EventLog log;
  log.attach(inv);
  LibvirtMonitor mon(testOptions(), inv);
  auto r = mon.start();
  REQUIRE(r.has_value());
  // test:///default starts with one running domain named "test".
  auto t = inv.find("test");
  REQUIRE(t);
  CHECK(t->state == VmState::kRunning);
  CHECK(log.count("vm.defined", "test") == 1);
  CHECK(log.count("vm.started", "test") == 1);
  auto st = mon.status();
  CHECK(st.connected);
  CHECK(st.connects == 1);
  mon.stop();
  CHECK_FALSE(mon.status().connected);
}

TEST_CASE("LibvirtMonitor: define, start, hot-plug, stop, undefine", "[hostmon][libvirt]") {
  Started s;
  auto& [inv, log, mon] = s;
  Dom dom = s.define(webXml());
  REQUIRE(log.waitFor("vm.defined", "web"));
  REQUIRE(mon.waitIdle(5000));
  auto r = inv.find("web");
  REQUIRE(r);
  CHECK(r->info.uuid == kWebUuid);
  CHECK(r->state == VmState::kShutoff);
  CHECK(r->info.labels.app == "web");
  CHECK(r->info.labels.segment == "frontend");
  CHECK(r->info.labels.manifest == "web-v3");
  REQUIRE(r->info.nics.size() == 1);
  CHECK(r->info.nics[0].mac == "52:54:00:12:34:56");
  CHECK(r->info.nics[0].source == "/run/goldgate/vm-web.sock");
  CHECK(r->info.nics[0].source_mode == "server");
  CHECK(log.count("vm.started", "web") == 0);

  REQUIRE(virDomainCreate(dom.get()) == 0);
  REQUIRE(log.waitFor("vm.started", "web"));
  REQUIRE(mon.waitIdle(5000));
  CHECK(inv.find("web")->state == VmState::kRunning);
  CHECK(inv.find("web")->reason == "booted");

  // Hot-plug an interface into the running domain.
  const char* nic =
      "<interface type='network'><mac address='52:54:00:12:34:57'/><source network='default'/></interface>";
  size_t mark = log.size();
  const bool hotplug = virDomainAttachDeviceFlags(dom.get(), nic, VIR_DOMAIN_AFFECT_LIVE) == 0;
  if (hotplug) {
    REQUIRE(log.waitFor("vm.nic_added", "web", 5000, mark));
    REQUIRE(mon.waitIdle(5000));
    CHECK(inv.find("web")->info.nics.size() == 2);
  }

  mark = log.size();
  REQUIRE(virDomainDestroy(dom.get()) == 0);
  REQUIRE(log.waitFor("vm.stopped", "web", 5000, mark));
  REQUIRE(mon.waitIdle(5000));
  CHECK(inv.find("web")->state == VmState::kShutoff);
  CHECK(inv.find("web")->reason == "destroyed");
  CHECK(log.count("vm.undefined", "web", mark) == 0);  // persistent: still defined

  if (!hotplug) {
    // libvirt's test driver has no device hot-plug (virDomainAttachDeviceFlags: "this function is
    // not supported by the connection driver"), so DEVICE_ADDED cannot be raised here. Its handler
    // only queues a refresh of the domain, the same refresh a DEFINED event queues: add the NIC
    // by redefining the stopped domain and check that the refresh reports exactly that NIC.
    std::string xml = webXml();
    xml.replace(xml.find("</devices>"), 0, std::string(nic) + "\n");
    Dom again = s.define(xml);
    REQUIRE(log.waitFor("vm.nic_added", "web", 5000, mark));
    REQUIRE(mon.waitIdle(5000));
    auto r2 = inv.find("web");
    REQUIRE(r2->info.nics.size() == 2);
    CHECK(r2->info.nics[1].mac == "52:54:00:12:34:57");
    CHECK(r2->info.nics[1].source == "default");
    CHECK(log.count("vm.nic_added", "web", mark) == 1);
    CHECK(log.count("vm.defined", "web", mark) == 0);  // the same VM, updated
  }

  REQUIRE(virDomainUndefine(dom.get()) == 0);
  REQUIRE(log.waitFor("vm.undefined", "web", 5000, mark));
  REQUIRE(mon.waitIdle(5000));
  CHECK_FALSE(inv.find("web"));
  INFO(log.describe());
  CHECK(log.count("vm.defined", "web") == 1);
  CHECK(log.count("vm.started", "web") == 1);
  CHECK(log.count("vm.stopped", "web") == 1);
}

TEST_CASE("LibvirtMonitor: a transient domain that stops is stopped, then undefined", "[hostmon][libvirt]") {
  Started s;
  auto& [inv, log, mon] = s;
  Conn conn(mon.connection());
  REQUIRE(conn);
  Dom dom(virDomainCreateXML(conn.get(), webXml().c_str(), 0));
  REQUIRE(dom);
  REQUIRE(log.waitFor("vm.started", "web"));
  REQUIRE(virDomainDestroy(dom.get()) == 0);
  REQUIRE(log.waitFor("vm.undefined", "web"));
  INFO(log.describe());
  CHECK(log.count("vm.stopped", "web") == 1);
  CHECK_FALSE(inv.find("web"));
}

TEST_CASE("LibvirtMonitor: reconnect keeps the inventory and reports only real differences", "[hostmon][libvirt]") {
  Started s;
  auto& [inv, log, mon] = s;
  s.define(webXml());
  REQUIRE(log.waitFor("vm.defined", "web"));
  REQUIRE(mon.waitIdle(5000));
  auto before = inv.find("test");
  REQUIRE(before);
  size_t mark = log.size();

  // A new test:///default connection starts from the driver's default state again: "test" is
  // unchanged, "web" is gone — exactly what a libvirtd restart that lost a VM looks like.
  mon.forceReconnect();
  REQUIRE(log.waitFor("vm.undefined", "web", 5000, mark));
  REQUIRE(mon.waitIdle(5000));
  INFO(log.describe(mark));
  CHECK(log.since(mark).size() == 1);  // no event at all for the unchanged "test"
  auto after = inv.find("test");
  REQUIRE(after);
  CHECK(after->generation == before->generation);
  CHECK(after->last_change_ns == before->last_change_ns);
  auto st = mon.status();
  CHECK(st.connected);
  CHECK(st.connects == 2);
  CHECK(st.disconnects == 1);

  // And the new connection delivers events again.
  mark = log.size();
  s.define(webXml());
  CHECK(log.waitFor("vm.defined", "web", 5000, mark));
}

TEST_CASE("LibvirtMonitor: an unreachable URI fails the first attempt and keeps retrying", "[hostmon][libvirt]") {
  Inventory inv;
  MonitorOptions o = testOptions();
  o.uri = "test:///nonexistent-goldgate-file.xml";
  LibvirtMonitor mon(o, inv);
  auto r = mon.start();
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Catch::Matchers::Contains("test:///nonexistent-goldgate-file.xml"));
  CHECK_FALSE(mon.status().connected);
  CHECK_FALSE(mon.status().last_error.empty());
  CHECK(inv.size() == 0);
  mon.stop();  // returns promptly although the monitor is between retries
}

TEST_CASE("LibvirtMonitor: a hung libvirtd delays neither start nor the decision to stop", "[hostmon][libvirt]") {
  // A socket that accepts connections and never answers: virConnectOpen blocks on it as on a
  // libvirtd that is stopped (SIGSTOP) or hung.
  test::TempDir dir;
  const std::string path = (dir.path() / "hung.sock").string();
  auto lfd = ipc::listenUnix(path, "", "hung libvirtd");
  REQUIRE(lfd.has_value());
  std::atomic<bool> quit{false};
  std::vector<int> held;
  std::thread acceptor([&] {
    while (!quit.load()) {
      int fd = ::accept4(*lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) held.push_back(fd);
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  Inventory inv;
  MonitorOptions o = testOptions();
  o.uri = "test+unix:///default?socket=" + path;
  LibvirtMonitor mon(o, inv);
  auto r = mon.start(300);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Catch::Matchers::Contains("still connecting"));
  CHECK_FALSE(mon.stop(300));  // the monitor thread is inside virConnectOpen

  // The "daemon" goes away: the open fails, the monitor thread sees stop and ends.
  quit = true;
  acceptor.join();
  for (int fd : held) ::close(fd);
  ::close(*lfd);
  CHECK(mon.stop(5000));
}

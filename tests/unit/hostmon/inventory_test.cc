// Contract tests of the Inventory (hostmon/src/inventory.cc): which changes produce which events,
// and that nothing else does. A fake clock makes the timestamps exact.
#include <catch2/catch.hpp>

#include "event_log.h"
#include "inventory.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using goldgate::test::EventLog;

namespace {

ObservedVm vm(const std::string& name, const std::string& uuid, VmState state = VmState::kShutoff) {
  ObservedVm v;
  v.info.name = name;
  v.info.uuid = uuid;
  v.state = state;
  Nic n;
  n.type = "vhostuser";
  n.mac = "52:54:00:00:00:01";
  n.source_type = "unix";
  n.source = "/run/goldgate/vm-" + name + ".sock";
  n.source_mode = "server";
  v.info.nics.push_back(n);
  v.info.labels.segment = "frontend";
  v.info.has_labels = true;
  return v;
}

const std::string kU1 = "11111111-1111-1111-1111-111111111111";
const std::string kU2 = "22222222-2222-2222-2222-222222222222";

}  // namespace

TEST_CASE("Inventory: define, start, stop, undefine", "[hostmon][inventory]") {
  int64_t t = 1000;
  Inventory inv([&] { return t; });
  EventLog log;
  log.attach(inv);

  auto ev = inv.upsert(vm("web", kU1));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.defined");
  CHECK(ev[0].uuid == kU1);
  CHECK(ev[0].time_ns == 1000);
  CHECK(log.size() == 1);  // the observer saw what upsert returned

  t = 2000;
  CHECK(inv.upsert(vm("web", kU1)).empty());  // nothing changed: no event, no new timestamp
  CHECK(inv.find("web")->last_change_ns == 1000);
  CHECK(inv.find("web")->generation == 1);

  t = 3000;
  ev = inv.setState(kU1, VmState::kRunning, "booted");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.started");
  auto r = inv.find(kU1);
  REQUIRE(r);
  CHECK(r->state == VmState::kRunning);
  CHECK(r->reason == "booted");
  CHECK(r->last_change_ns == 3000);
  CHECK(r->generation == 2);

  // The same state again (the refresh after the event) is not a second start.
  CHECK(inv.upsert(vm("web", kU1, VmState::kRunning)).empty());

  ev = inv.setState(kU1, VmState::kPaused, "user");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.paused");
  ev = inv.setState(kU1, VmState::kRunning, "unpaused");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.resumed");
  ev = inv.setState(kU1, VmState::kShutoff, "destroyed");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.stopped");
  CHECK_THAT(ev[0].detail, Catch::Matchers::Contains("destroyed"));

  ev = inv.remove(kU1);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.undefined");
  CHECK(ev[0].name == "web");
  CHECK(inv.size() == 0);
  CHECK(inv.remove(kU1).empty());  // unknown: nothing to report
  CHECK(inv.setState(kU1, VmState::kRunning, "").empty());
}

TEST_CASE("Inventory: a VM first seen running is defined and started", "[hostmon][inventory]") {
  Inventory inv;
  auto ev = inv.upsert(vm("db", kU2, VmState::kRunning));
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == "vm.defined");
  CHECK(ev[1].kind == "vm.started");
}

TEST_CASE("Inventory: NIC, device and label changes", "[hostmon][inventory]") {
  Inventory inv;
  inv.upsert(vm("web", kU1));
  ObservedVm v = vm("web", kU1);

  Nic second;
  second.type = "network";
  second.mac = "52:54:00:00:00:02";
  second.source_type = "network";
  second.source = "default";
  v.info.nics.push_back(second);
  auto ev = inv.upsert(v);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.nic_added");
  CHECK_THAT(ev[0].detail, Catch::Matchers::Contains("52:54:00:00:00:02"));
  CHECK(inv.find("web")->info.nics.size() == 2);

  // libvirt adds alias and target dev when a VM starts: the same NIC, no event, but a new record.
  uint64_t gen = inv.find("web")->generation;
  v.info.nics[1].alias = "net1";
  v.info.nics[1].target_dev = "vnet7";
  CHECK(inv.upsert(v).empty());
  CHECK(inv.find("web")->generation == gen + 1);
  CHECK(inv.find("web")->info.nics[1].target_dev == "vnet7");

  v.info.nics.erase(v.info.nics.begin());
  ev = inv.upsert(v);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.nic_removed");
  CHECK_THAT(ev[0].detail, Catch::Matchers::Contains("/run/goldgate/vm-web.sock"));

  Device disk;
  disk.kind = "disk";
  disk.type = "file";
  disk.target = "vdb";
  v.info.devices.push_back(disk);
  ev = inv.upsert(v);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.device_added");

  v.info.labels.segment = "backend";
  ev = inv.upsert(v);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.labels_changed");
  CHECK_THAT(ev[0].detail, Catch::Matchers::Contains("segment=backend"));

  // virsh domrename: same UUID, new name; found under the new name only.
  v.info.name = "web-renamed";
  ev = inv.upsert(v);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.renamed");
  CHECK(ev[0].detail == "web -> web-renamed");
  CHECK(inv.find("web-renamed"));
  CHECK_FALSE(inv.find("web"));
}

TEST_CASE("Inventory: reconcile reports only real differences", "[hostmon][inventory]") {
  Inventory inv;
  EventLog log;
  log.attach(inv);
  inv.reconcile({vm("web", kU1, VmState::kRunning), vm("db", kU2)});
  REQUIRE(inv.size() == 2);
  size_t mark = log.size();

  // The same listing again (a reconnect where nothing happened): no events at all.
  auto ev = inv.reconcile({vm("db", kU2), vm("web", kU1, VmState::kRunning)});
  CHECK(ev.empty());
  CHECK(log.size() == mark);

  // db vanished and web stopped while we were not looking.
  ev = inv.reconcile({vm("web", kU1, VmState::kShutoff)});
  INFO(log.describe(mark));
  REQUIRE(ev.size() == 2);
  CHECK(log.count("vm.stopped", "web", mark) == 1);
  CHECK(log.count("vm.undefined", "db", mark) == 1);
  CHECK(inv.size() == 1);
}

TEST_CASE("Inventory: reboots, agent and lookups", "[hostmon][inventory]") {
  Inventory inv;
  inv.upsert(vm("web", kU1, VmState::kRunning));
  auto ev = inv.rebooted(kU1);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.rebooted");
  ev = inv.setAgent(kU1, true);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "vm.agent_connected");
  CHECK(inv.setAgent(kU1, true).empty());  // no change, no event
  CHECK(inv.find("web")->agent_connected);
  CHECK(inv.setAgent(kU1, false)[0].kind == "vm.agent_disconnected");

  CHECK(inv.find("11111111-1111-1111-1111-111111111111"));
  CHECK(inv.find("11111111-1111-1111-1111-111111111111")->info.name == "web");
  CHECK(inv.find("11111111-1111-1111-1111-11111111111A") == std::nullopt);
  CHECK(inv.find("WEB") == std::nullopt);  // names are case-sensitive, as in libvirt
  inv.upsert(vm("alpha", kU2));
  auto snap = inv.snapshot();
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].info.name == "alpha");  // ordered by name
}

TEST_CASE("Inventory: an agent connected before hostmon watched is known from the XML", "[hostmon][inventory]") {
  Inventory inv;
  ObservedVm v = vm("web", kU1, VmState::kRunning);
  v.info.has_agent_channel = true;
  v.info.agent_state = "connected";
  inv.upsert(v);
  ObservedVm w = vm("db", kU2, VmState::kRunning);
  w.info.has_agent_channel = true;
  w.info.agent_state = "disconnected";
  inv.upsert(w);
  CHECK(inv.find("web")->agent_connected);
  CHECK_FALSE(inv.find("db")->agent_connected);
}

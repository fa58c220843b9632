// goldgate-hostmon's control API: answers built from the inventory, and the socket round trip
// goldgatectl makes (hostmon/src/control.cc, hostmon/src/client.cc).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "control.h"
#include "goldgate/hostmon/client.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using Catch::Matchers::Contains;

namespace {

void addWeb(Inventory& inv) {
  ObservedVm v;
  v.info.name = "web";
  v.info.uuid = "8f3c2a10-1111-4222-8333-944455556666";
  v.state = VmState::kRunning;
  v.reason = "booted";
  Nic n;
  n.type = "vhostuser";
  n.mac = "52:54:00:ab:cd:01";
  n.source_type = "unix";
  n.source = "/run/goldgate/vm-web.sock";
  n.source_mode = "server";
  v.info.nics.push_back(n);
  v.info.labels.app = "web";
  v.info.labels.segment = "frontend";
  v.info.labels.extra["owner"] = "team-a";
  v.info.has_labels = true;
  inv.upsert(v);
}

MonitorStatus connectedStatus() {
  MonitorStatus s;
  s.uri = "test:///default";
  s.connected = true;
  s.connects = 1;
  return s;
}

}  // namespace

TEST_CASE("hostmon control: list and get from the inventory", "[hostmon][control]") {
  Inventory inv;
  addWeb(inv);
  proto::HostmonRequest req;
  req.mutable_list_vms();
  auto resp = handleRequest(req, inv, connectedStatus());
  REQUIRE(resp.ok());
  CHECK(resp.status().connected());
  CHECK(resp.status().uri() == "test:///default");
  REQUIRE(resp.list_vms().vms_size() == 1);
  const auto& vm = resp.list_vms().vms(0);
  CHECK(vm.name() == "web");
  CHECK(vm.state() == "running");
  CHECK(vm.reason() == "booted");
  CHECK(vm.segment() == "frontend");
  CHECK(vm.labels().at("owner") == "team-a");
  REQUIRE(vm.nics_size() == 1);
  CHECK(vm.nics(0).source() == "/run/goldgate/vm-web.sock");
  CHECK(vm.generation() == 1);  // first seen running: one change

  req.mutable_get_vm()->set_name_or_uuid("8F3C2A10-1111-4222-8333-944455556666");
  resp = handleRequest(req, inv, connectedStatus());
  REQUIRE(resp.ok());
  CHECK(resp.vm().name() == "web");

  req.mutable_get_vm()->set_name_or_uuid("nope");
  MonitorStatus down = connectedStatus();
  down.connected = false;
  resp = handleRequest(req, inv, down);
  CHECK_FALSE(resp.ok());
  CHECK_THAT(resp.error(), Contains("no VM named 'nope'"));
  CHECK_THAT(resp.error(), Contains("not connected to libvirt"));

  proto::HostmonRequest empty;
  resp = handleRequest(empty, inv, connectedStatus());
  CHECK_FALSE(resp.ok());
  CHECK_THAT(resp.error(), Contains("unknown request"));
}

TEST_CASE("hostmon control: the socket round trip, its mode, and one server per path", "[hostmon][control]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "run" / "hostmon.sock").string();
  Inventory inv;
  addWeb(inv);
  ControlServer server(path, "", inv, [] { return connectedStatus(); });
  REQUIRE(server.open().has_value());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // A second server on the same live path is refused.
  ControlServer second(path, "", inv, [] { return connectedStatus(); });
  auto r2 = second.open();
  REQUIRE_FALSE(r2.has_value());
  CHECK_THAT(r2.error().message, Contains("another goldgate-hostmon is already listening"));

  std::atomic<bool> stop{false};
  std::thread t([&] {
    while (!stop.load()) server.serveOnce(50);
  });
  proto::HostmonRequest req;
  req.mutable_get_vm()->set_name_or_uuid("web");
  auto resp = callHostmon(path, req, 2000);
  stop = true;
  t.join();
  REQUIRE(resp.has_value());
  // The tests run as root or not: a refusal must say why, an answer must carry the VM.
  if (::geteuid() == 0) {
    REQUIRE(resp->ok());
    CHECK(resp->vm().nics(0).mac() == "52:54:00:ab:cd:01");
  } else {
    CHECK_FALSE(resp->ok());
    CHECK_THAT(resp->error(), Contains("permission denied"));
  }
}

TEST_CASE("hostmon client: a clear error when hostmon is not running", "[hostmon][control]") {
  test::TempDir dir;
  proto::HostmonRequest req;
  req.mutable_list_vms();
  auto resp = callHostmon((dir.path() / "none.sock").string(), req, 500);
  REQUIRE_FALSE(resp.has_value());
  CHECK_THAT(resp.error().message, Contains("cannot connect to goldgate-hostmon at"));
  CHECK_THAT(resp.error().message, Contains("is goldgate-hostmon running?"));
}

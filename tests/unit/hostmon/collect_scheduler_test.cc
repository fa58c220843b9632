// Contract tests of the guest-state collectors and their scheduler (hostmon/src/agent_collector.cc,
// memory_collector.cc, collect_scheduler.cc), driven through a FakeGuest: test:///default has no
// guest agent and no memory peeks, so the fake stands in for both.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent_collector.h"
#include "collect_scheduler.h"
#include "config.h"
#include "control.h"
#include "fake_guest.h"
#include "hostmon_alerts.h"
#include "loopback.h"
#include "memory_collector.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::string kUuid = "33333333-3333-3333-3333-333333333333";

ObservedVm runningVm(bool agentChannel = true) {
  ObservedVm v;
  v.info.name = "web-1";
  v.info.uuid = kUuid;
  v.info.has_agent_channel = agentChannel;
  v.info.labels.manifest = "web-v3";
  v.info.labels.segment = "frontend";
  v.state = VmState::kRunning;
  return v;
}

AgentCollectorOptions agentOpts() {
  AgentCollectorOptions o;
  o.nonce = [] { return std::string(test::kNonce); };
  o.sleep = [](uint32_t) {};
  return o;
}

MemoryCollectorOptions memoryOpts() {
  MemoryCollectorOptions o;
  o.banner_start = 1u << 20;
  o.banner_length = 4u << 20;
  o.text_start = 6u << 20;
  o.text_length = 256u << 10;
  return o;
}

struct Rig {
  Inventory inv;
  GuestStateStore store;
  test::FakeGuest guest;
  bool connected = true;
  std::vector<std::pair<std::string, Observation>> alerts;
  std::unique_ptr<CollectScheduler> sched;

  explicit Rig(CollectOptions opts = {}, MemoryCollectorOptions mem = memoryOpts()) {
    inv.upsert(runningVm());
    inv.setAgent(kUuid, true);
    guest.setMemory((1u << 20) + (64u << 10) - 5, "6.1.0-28-cloud-amd64");  // banner across a 64 KiB boundary
    sched = std::make_unique<CollectScheduler>(
        opts, inv, store, std::make_unique<QemuAgentCollector>(agentOpts()), std::make_unique<MemoryPeekCollector>(mem),
        [this](const std::string&) -> Result<GuestAccess> {
          if (!connected) return makeError(Error::Code::kIo, "not connected to libvirt");
          return guest.access();
        },
        [this](const CollectTarget& vm, const Observation& o) { alerts.emplace_back(vm.name, o); });
  }
  GuestState state() { return store.find(kUuid).value(); }
};

}  // namespace

TEST_CASE("agent collector: a good poll fills every group, guest-reported", "[hostmon][collect]") {
  Rig rig;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  GuestState s = rig.state();
  CHECK(s.agent_status == "ok");
  REQUIRE(s.agent.has_value());
  const AgentView& a = *s.agent;
  CHECK(a.kernel.release == "6.1.0-28-cloud-amd64");
  CHECK(a.kernel.cmdline == "console=ttyS0 nokaslr gg.ip=10.0.0.5/24");
  CHECK(a.kernel.seen.source == "qemu-agent");
  CHECK(a.kernel.seen.trust == Trust::kGuestReported);
  CHECK(a.kernel.seen.observed_ns > 0);
  CHECK(a.processes.size() == 5);
  CHECK(a.listeners.size() == 5);
  CHECK(a.modules.size() == 2);
  CHECK(a.interfaces.size() == 2);
  CHECK(a.processes_seen.trust == Trust::kGuestReported);
  CHECK(s.agent_cost.polls == 1);
  CHECK(s.agent_cost.failures == 0);
  CHECK(rig.alerts.empty());
  // One exec per poll, then status until it exited (the fake says "running" once).
  CHECK(rig.guest.commands == std::vector<std::string>{"guest-get-osinfo", "guest-network-get-interfaces", "guest-exec",
                                                       "guest-exec-status", "guest-exec-status"});

  // The control API carries it, each group with source and trust.
  proto::GuestState p = toProto(s);
  CHECK(p.kernel().trust() == "guest-reported");
  CHECK(p.kernel().source() == "qemu-agent");
  CHECK(p.processes().processes_size() == 5);
  CHECK(p.listeners().listeners(0).pid() == 395);
  CHECK(p.interfaces().interfaces(1).mac() == "52:54:00:ab:cd:01");
}

TEST_CASE("agent collector: a silent agent is an observation and one alert, not a hang", "[hostmon][collect]") {
  Rig rig;
  rig.guest.agent = test::FakeGuest::Agent::kSilent;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  GuestState s = rig.state();
  CHECK_THAT(s.agent_status, StartsWith("agent.silent"));
  CHECK_FALSE(s.agent.has_value());
  REQUIRE(s.recent.size() == 1);
  CHECK(s.recent[0].kind == "agent.silent");
  CHECK(s.recent[0].count == 2);
  CHECK_THAT(s.recent[0].detail, Contains("not connected"));
  CHECK(s.agent_cost.failures == 2);
  // A silent agent ends the poll at once: the other commands would only wait out their timeouts.
  CHECK(rig.guest.commands == std::vector<std::string>{"guest-get-osinfo", "guest-get-osinfo"});
  // Alerted once, when a second poll confirmed it, not on every poll while it stays so.
  REQUIRE(rig.alerts.size() == 1);
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  REQUIRE(rig.alerts.size() == 1);
  CHECK(rig.alerts[0].first == "web-1");
  CHECK(rig.alerts[0].second.kind == "agent.silent");

  // It comes back: the earlier view stays until then, and going silent again alerts again.
  rig.guest.agent = test::FakeGuest::Agent::kGood;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  CHECK(rig.state().agent_status == "ok");
  rig.guest.agent = test::FakeGuest::Agent::kSilent;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  s = rig.state();
  CHECK(s.agent.has_value());     // the last good view, with its older timestamps
  CHECK(rig.alerts.size() == 1);  // one silent poll (a VM being destroyed looks like this) is no alarm
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  CHECK(rig.alerts.size() == 2);
}

TEST_CASE("agent collector: malformed and error replies", "[hostmon][collect]") {
  Rig rig;
  rig.guest.agent = test::FakeGuest::Agent::kMalformed;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  GuestState s = rig.state();
  CHECK_THAT(s.agent_status, StartsWith("agent.malformed"));
  REQUIRE_FALSE(rig.alerts.empty());
  CHECK(rig.alerts[0].second.kind == "agent.malformed");

  Rig rig2;
  rig2.guest.agent = test::FakeGuest::Agent::kErrorReply;
  REQUIRE(rig2.sched->pollNow(kUuid, CollectKind::kAgent));
  CHECK_THAT(rig2.state().agent_status, StartsWith("agent.error"));
  CHECK_THAT(rig2.state().agent_status, Contains("command disabled"));

  // A probe whose output does not parse: the kernel and interfaces still count.
  Rig rig3;
  rig3.guest.probe = "garbage";
  REQUIRE(rig3.sched->pollNow(kUuid, CollectKind::kAgent));
  s = rig3.state();
  CHECK_THAT(s.agent_status, StartsWith("agent.malformed"));
  REQUIRE(s.agent.has_value());
  CHECK(s.agent->kernel.release == "6.1.0-28-cloud-amd64");
  CHECK(s.agent->processes.empty());
  CHECK(s.agent->processes_seen.observed_ns == 0);
}

TEST_CASE("agent collector: a probe that never finishes hits the deadline", "[hostmon][collect]") {
  test::FakeGuest guest;
  guest.running_polls = 1 << 30;
  AgentCollectorOptions o = agentOpts();
  o.exec_deadline_ms = 30;
  o.sleep = [](uint32_t) { std::this_thread::sleep_for(std::chrono::milliseconds(5)); };
  QemuAgentCollector c(o);
  CollectResult r = c.collect({kUuid, "web-1", "", ""}, guest.access(), GuestState{});
  CHECK_THAT(r.status, StartsWith("agent.silent (probe: still running after 30 ms"));
  REQUIRE(r.agent.has_value());  // the kernel and interfaces were learnt before
}

TEST_CASE("memory collector: banner, text hash, learned gold, change and disagreement", "[hostmon][collect]") {
  Rig rig;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  GuestState s = rig.state();
  CHECK(s.memory_status == "ok");
  REQUIRE(s.memory.has_value());
  CHECK(s.memory->seen.trust == Trust::kHypervisorObserved);
  CHECK(s.memory->seen.source == "memory-peek");
  CHECK(s.memory->banner == "Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP");
  CHECK(s.memory->banner_addr == (1u << 20) + (64u << 10) - 5);
  CHECK(s.memory->text_sha256.size() == 64);
  // One reading is not yet gold: a booting kernel is still decompressing and patching itself.
  CHECK(s.memory->gold_source == "learning");
  CHECK(s.recent.empty());
  int firstPeeks = rig.guest.peeks;

  // The next poll reads the banner once at the remembered address, and the repeated reading
  // becomes the gold hash.
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK(rig.guest.peeks - firstPeeks == 1 + 4);  // banner + 256 KiB of text in 64 KiB reads
  CHECK(rig.state().memory->gold_source == "learned");
  CHECK(rig.state().memory->match);
  CHECK(rig.alerts.empty());

  // The kernel text changes: an observation and an alert.
  rig.guest.memory[(6u << 20) + 100] ^= 0xff;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  s = rig.state();
  CHECK_FALSE(s.memory->match);
  REQUIRE(rig.alerts.size() == 1);
  CHECK(rig.alerts[0].second.kind == "kernel.text_changed");
  CHECK(rig.alerts[0].second.trust == Trust::kHypervisorObserved);
  CHECK_THAT(rig.alerts[0].second.detail, Contains("(learned)"));

  // The guest agent claims another kernel than the one in memory.
  rig.guest.osinfo = R"j({"return": {"kernel-release": "5.10.0-99-amd64"}})j";
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  s = rig.state();
  bool disagreement = false;
  for (const auto& o : s.recent)
    if (o.kind == "disagreement.kernel_release") {
      disagreement = true;
      CHECK_THAT(o.detail, Contains("5.10.0-99-amd64"));
      CHECK_THAT(o.detail, Contains("6.1.0-28-cloud-amd64"));
    }
  CHECK(disagreement);

  // After a restart the gold hash is learnt again (the changed text is the new normal).
  rig.sched->onEvent({"vm.started", kUuid, "web-1", "", 0, 0});
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK(rig.state().memory->gold_source == "learning");
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK(rig.state().memory->match);
}

TEST_CASE("memory collector: a banner gone from its place is an alert, and not searched for elsewhere",
          "[hostmon][collect]") {
  Rig rig;
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  const uint64_t at = rig.state().memory->banner_addr;
  REQUIRE(at == (1u << 20) + (64u << 10) - 5);
  // The guest's kernel overwrites its banner and plants another further on in the searched range.
  rig.guest.memory[at] = 'X';
  rig.guest.setMemory((3u << 20) + 7, "9.9.9-fake");
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  GuestState s = rig.state();
  REQUIRE(s.memory.has_value());
  CHECK(s.memory->banner.empty());
  CHECK(s.memory->banner_addr == at);  // not moved to the planted one
  REQUIRE(rig.alerts.size() == 1);
  CHECK(rig.alerts[0].second.kind == "kernel.banner_changed");
  CHECK(rig.alerts[0].second.trust == Trust::kHypervisorObserved);
  CHECK_THAT(rig.alerts[0].second.detail, Contains("no longer at 0x10fffb"));
  CHECK(s.memory->text_sha256.size() == 64);  // the text is still hashed
  // A standing condition: one alert.
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK(rig.alerts.size() == 1);
  // A new boot searches afresh.
  rig.sched->onEvent({"vm.started", kUuid, "web-1", "", 0, 0});
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK(rig.state().memory->banner_addr == (3u << 20) + 7);
}

TEST_CASE("memory collector: configured gold hashes win over learning", "[hostmon][collect]") {
  MemoryCollectorOptions mo = memoryOpts();
  mo.gold_by_manifest["web-v3"] = std::string(64, '0');
  Rig rig({}, mo);
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK(rig.state().memory->gold_source == "config:manifest");
  CHECK_FALSE(rig.state().memory->match);
  REQUIRE(rig.alerts.size() == 1);

  mo.gold_by_vm["web-1"] = rig.state().memory->text_sha256;
  Rig rig2({}, mo);
  REQUIRE(rig2.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK(rig2.state().memory->gold_source == "config:vm");
  CHECK(rig2.state().memory->match);
}

TEST_CASE("memory collector: no banner and unreadable memory are memory.error, not alerts", "[hostmon][collect]") {
  MemoryCollectorOptions mo = memoryOpts();
  mo.banner_start = 3u << 20;  // after the banner
  mo.banner_length = 1u << 20;
  Rig rig({}, mo);
  REQUIRE(rig.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK_THAT(rig.state().memory_status, Contains("no \"Linux version \" banner"));
  mo = memoryOpts();
  mo.text_start = 100u << 20;  // beyond the fake's 8 MiB
  Rig rig2({}, mo);
  REQUIRE(rig2.sched->pollNow(kUuid, CollectKind::kMemory));
  CHECK_THAT(rig2.state().memory_status, Contains("outside guest memory"));
  CHECK(rig.alerts.empty());
  CHECK(rig2.alerts.empty());
}

TEST_CASE("scheduler: disconnected libvirt skips polls; unknown VMs are skipped", "[hostmon][collect]") {
  Rig rig;
  rig.connected = false;
  CHECK_FALSE(rig.sched->pollNow(kUuid, CollectKind::kAgent));
  CHECK_FALSE(rig.store.find(kUuid).has_value());
  CHECK_FALSE(rig.sched->pollNow("44444444-4444-4444-4444-444444444444", CollectKind::kAgent));
}

TEST_CASE("scheduler threads poll running VMs and stop cleanly", "[hostmon][collect]") {
  CollectOptions opts;
  opts.agent_interval_ms = 100;
  opts.memory_interval_ms = 100;
  Rig rig(opts);
  rig.sched->start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = rig.store.find(kUuid);
    if (s && s->agent_cost.polls >= 2 && s->memory_cost.polls >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  rig.sched->stop();
  auto s = rig.store.find(kUuid);
  REQUIRE(s.has_value());
  CHECK(s->agent_cost.polls >= 2);
  CHECK(s->memory_cost.polls >= 2);
  CHECK(s->agent_status == "ok");
  // A stopped VM is not polled; an undefined one is forgotten.
  rig.sched->onEvent({"vm.undefined", kUuid, "web-1", "", 0, 0});
  CHECK_FALSE(rig.store.find(kUuid).has_value());
}

TEST_CASE("hostmon alert events for observations", "[hostmon][collect]") {
  Observation o{"kernel.text_changed",
                "kernel text 0x1000000 + 2 MiB: sha256 aa, expected bb (learned)",
                "memory-peek",
                Trust::kHypervisorObserved,
                5,
                5,
                1};
  auto ev = alertEventFor({kUuid, "web-1", "web-v3", "frontend"}, o, CollectScheduler::alertSeverity(o.kind));
  CHECK(ev.kind() == "attest.kernel.text_changed");
  CHECK(ev.severity() == 8);
  CHECK(ev.vm() == "web-1");
  CHECK(ev.segment() == "frontend");
  CHECK(ev.manifest().name() == "web-v3");
  CHECK_THAT(ev.message(), Contains("hypervisor-observed"));
  CHECK(CollectScheduler::alertSeverity("agent.silent") > 0);
  CHECK(CollectScheduler::alertSeverity("memory.error") == 0);
}

TEST_CASE("hostmon alerts go to SIEM sinks configured as the switch's are", "[hostmon][collect]") {
  test::TempDir d;
  uint16_t port = 0;
  int fd = test::udpSocket(port);
  auto cfg = parseHostmonConfig("alerts:\n  file: " + (d.path() / "alerts.jsonl").string() +
                                    "\n  window_ms: 0\n  spool_dir: " + (d.path() / "spool").string() +
                                    "\n  sinks:\n    - {name: siem, transport: udp, address: \"127.0.0.1:" +
                                    std::to_string(port) + "\", format: cef}\n",
                                "h.yaml");
  REQUIRE(cfg.has_value());
  REQUIRE(cfg->alerts_sinks.size() == 1);
  CHECK(cfg->alerts_sinks[0].spool_dir == (d.path() / "spool" / "siem").string());
  auto alerts = HostmonAlerts::open(cfg->alerts_file, cfg->alerts_window_ms, cfg->alerts_sinks);
  REQUIRE(alerts.has_value());
  Observation o{"kernel.text_changed", "kernel text changed", "memory-peek", Trust::kHypervisorObserved, 5, 5, 1};
  (*alerts)->raise({kUuid, "web-1", "web-v3", "frontend"}, o, 8);
  (*alerts)->flush();
  pollfd p{fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
  char buf[9000];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  REQUIRE(n > 0);
  const std::string msg(buf, static_cast<size_t>(n));
  CHECK_THAT(msg, Contains("CEF:0|Goldgate|"));
  CHECK_THAT(msg, Contains("attest.kernel.text_changed"));
  ::close(fd);
}

TEST_CASE("hostmon config: a bad sink is refused with its line", "[hostmon][config]") {
  auto cfg = parseHostmonConfig("alerts:\n  sinks:\n    - {name: siem, transport: carrier-pigeon, address: \"h:1\"}\n",
                                "h.yaml");
  REQUIRE_FALSE(cfg.has_value());
  CHECK_THAT(cfg.error().message, StartsWith("h.yaml:3: "));
}

TEST_CASE("scheduler: stop gives up on a poll blocked in libvirt, and finishes once it returns", "[hostmon][collect]") {
  Inventory inv;
  inv.upsert(runningVm());
  inv.setAgent(kUuid, true);
  GuestStateStore store;
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  CollectOptions opts;
  CollectScheduler sched(opts, inv, store, std::make_unique<QemuAgentCollector>(agentOpts()), nullptr,
                         [&](const std::string&) -> Result<GuestAccess> {
                           GuestAccess a;
                           // An agent call that hangs the way a call to a hung libvirtd does, until released.
                           a.agent = [&](const std::string&, int) -> Result<std::string> {
                             std::unique_lock<std::mutex> l(mu);
                             entered = true;
                             cv.notify_all();
                             cv.wait(l, [&] { return release; });
                             return makeError(Error::Code::kIo, "connection closed");
                           };
                           return a;
                         },
                         {});
  sched.start();
  {
    std::unique_lock<std::mutex> l(mu);
    REQUIRE(cv.wait_for(l, std::chrono::seconds(10), [&] { return entered; }));
  }
  CHECK_FALSE(sched.stop(50));
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  CHECK(sched.stop(10000));
}

TEST_CASE("scheduler: a booting VM's agent is not polled (nor reported silent) before it connects",
          "[hostmon][collect]") {
  CollectOptions opts;
  opts.agent_interval_ms = 50;
  opts.memory_interval_ms = 50;
  opts.agent_boot_grace_s = 3600;
  Rig rig(opts);
  rig.inv.setAgent(kUuid, false);
  rig.sched->onEvent({"vm.started", kUuid, "web-1", "", 0, 0});
  rig.sched->start();
  auto waitFor = [&](auto pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && !pred())
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return pred();
  };
  // The memory collector runs meanwhile; the agent collector waits for the agent.
  REQUIRE(waitFor([&] {
    auto s = rig.store.find(kUuid);
    return s && s->memory_cost.polls >= 3;
  }));
  CHECK(rig.state().agent_cost.polls == 0);
  rig.inv.setAgent(kUuid, true);
  rig.sched->onEvent({"vm.agent_connected", kUuid, "web-1", "", 0, 0});
  CHECK(waitFor([&] {
    auto s = rig.store.find(kUuid);
    return s && s->agent_cost.polls >= 1;
  }));
  // Once it has connected, an agent that goes away is polled and reported silent.
  {
    std::lock_guard<std::mutex> l(rig.guest.mu);
    rig.guest.agent = test::FakeGuest::Agent::kSilent;
  }
  rig.inv.setAgent(kUuid, false);
  CHECK(waitFor([&] { return rig.state().agent_status.rfind("agent.silent", 0) == 0; }));
  rig.sched->stop();
}

TEST_CASE("agent collector: a domain found not running mid-poll skips the poll, with no verdict",
          "[hostmon][collect]") {
  Rig rig;
  hostmon::GuestAccess real = rig.guest.access();
  hostmon::GuestAccess a = real;
  a.agent = [&real](const std::string& req, int t) -> Result<std::string> {
    if (req.find("guest-exec-status") != std::string::npos)
      return makeError(Error::Code::kNotFound, hostmon::kDomainNotRunning);
    return real.agent(req, t);
  };
  QemuAgentCollector c(agentOpts());
  CollectResult r = c.collect({kUuid, "web-1", "", ""}, a, GuestState{});
  CHECK(r.skipped);
  CHECK(r.observations.empty());
  CHECK_FALSE(r.agent.has_value());
}

// Unit tests of goldgate-hostmon's Prometheus metrics (hostmon/src/metrics.cc): the families
// computed from the inventory, the guest states' poll costs and the attestation views, and the
// endpoint served over real HTTP on a free loopback port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <string>

#include "goldgate/common/metrics_http.h"
#include "metrics.h"

using namespace goldgate;
using namespace goldgate::hostmon;

namespace {

// GET /metrics from 127.0.0.1:port; the whole answer.
std::string httpGet(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

struct Fixture {
  Inventory inv;
  GuestStateStore store;
  proto::VmAttestation web;
  Fixture() {
    ObservedVm v;
    v.info.name = "web1";
    v.info.uuid = "u-web";
    v.state = VmState::kRunning;
    inv.upsert(v);
    v.info.name = "db1";
    v.info.uuid = "u-db";
    v.state = VmState::kPaused;
    inv.upsert(v);
    store.update("u-web", "web1", [](GuestState& s) {
      for (uint32_t ms : {5, 80, 80, 3000}) {
        ++s.agent_cost.polls;
        s.agent_cost.addDuration(ms);
      }
      s.agent_cost.failures = 1;
      s.agent_cost.total_cpu_us = 1500000;
      s.memory_cost.polls = 2;
      s.memory_cost.addDuration(15);
      s.memory_cost.addDuration(20);
      MemoryView m;
      m.processes.resize(7);
      m.modules = {{"virtio_net", 0, 0, 0, true, true, 0}, {"hider", 0, 0, 0, false, true, 0}};
      m.syscall_hooks = {{140, 0xffffffffc0001000ull, "module hider+0x0"}};
      s.memory = m;
    });
    auto* f = web.add_red_flags();
    f->set_kind("unknown_executable");
    f->set_count(3);
    f = web.add_red_flags();
    f->set_kind("kernel_hook");
    f->set_count(1);
    auto* x = web.add_actions();
    x->set_action("quarantine");
    x->set_state("done");
  }
  std::shared_ptr<HostmonMetrics> metrics() {
    return std::make_shared<HostmonMetrics>(
        inv, store, [this](const std::string& uuid) { return uuid == "u-web" ? web : proto::VmAttestation{}; });
  }
};

}  // namespace

TEST_CASE("metrics: served over HTTP in the text format, named by Prometheus conventions", "[metrics]") {
  Fixture f;
  auto server = metrics::MetricsServer::start("127.0.0.1:0", f.metrics());
  REQUIRE(server);
  REQUIRE((*server)->port() > 0);
  const std::string body = httpGet((*server)->port());
  CHECK_THAT(body, Catch::StartsWith("HTTP/1.1 200"));
  CHECK_THAT(body, Catch::Contains("# TYPE goldgate_hostmon_polls_total counter"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_vms{state=\"running\"} 1"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_vms{state=\"paused\"} 1"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_polls_total{collector=\"agent\"} 4"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_poll_failures_total{collector=\"agent\"} 1"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_poll_cpu_seconds_total{collector=\"agent\"} 1.5"));
  // The histogram: 5 ms in the first bucket, 80 ms twice by 0.1 s, 3 s past 2.5 s.
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_poll_duration_seconds_bucket{collector=\"agent\",le=\"0.01\"} 1"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_poll_duration_seconds_bucket{collector=\"agent\",le=\"0.1\"} 3"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_poll_duration_seconds_bucket{collector=\"agent\",le=\"2.5\"} 3"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_poll_duration_seconds_bucket{collector=\"agent\",le=\"+Inf\"} 4"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_poll_duration_seconds_sum{collector=\"agent\"} 3.165"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_red_flags_total{kind=\"unknown_executable\"} 3"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_red_flags_total{kind=\"kernel_hook\"} 1"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_responses_total{action=\"quarantine\",state=\"done\"} 1"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_memory_view_processes 7"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_memory_view_unlisted_modules 1"));
  CHECK_THAT(body, Catch::Contains("goldgate_hostmon_kernel_hooks 1"));
  // The counters move as the state does: the endpoint reads it at every scrape.
  f.store.update("u-web", "web1", [](GuestState& s) { ++s.agent_cost.polls; });
  CHECK_THAT(httpGet((*server)->port()), Catch::Contains("goldgate_hostmon_polls_total{collector=\"agent\"} 5"));
}

TEST_CASE("metrics: an address that cannot be bound is an error naming it", "[metrics]") {
  Fixture f;
  auto first = metrics::MetricsServer::start("127.0.0.1:0", f.metrics());
  REQUIRE(first);
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = metrics::MetricsServer::start(taken, f.metrics());
  REQUIRE_FALSE(second);
  CHECK_THAT(second.error().message, Catch::Contains("cannot listen on " + taken));
}

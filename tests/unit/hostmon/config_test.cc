// Contract tests of goldgate-hostmon's configuration parser (hostmon/src/config.cc). Error paths
// are table-driven: every file in tests/data/bad-hostmon-config/ starts with "# expect: <line>: <text>".
#include <catch2/catch.hpp>

#include <filesystem>

#include "config.h"
#include "expect_table.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
namespace fs = std::filesystem;

TEST_CASE("hostmon config: the shipped example is valid and spells out the defaults", "[hostmon][config]") {
  auto cfg = loadHostmonConfig(std::string(GOLDGATE_SOURCE_DIR) + "/configs/hostmon.yaml");
  REQUIRE(cfg.has_value());
  HostmonConfig defaults;
  CHECK(cfg->libvirt.uri == defaults.libvirt.uri);
  CHECK(cfg->libvirt.readonly == defaults.libvirt.readonly);
  CHECK(cfg->libvirt.reconnect_min_ms == defaults.libvirt.reconnect_min_ms);
  CHECK(cfg->libvirt.reconnect_max_ms == defaults.libvirt.reconnect_max_ms);
  CHECK(cfg->libvirt.keepalive_interval_s == defaults.libvirt.keepalive_interval_s);
  CHECK(cfg->libvirt.keepalive_count == defaults.libvirt.keepalive_count);
  CHECK(cfg->control_socket == "/run/goldgate/hostmon.sock");
  CHECK(cfg->collect.enabled == defaults.collect.enabled);
  CHECK(cfg->collect.agent_interval_ms == defaults.collect.agent_interval_ms);
  CHECK(cfg->collect.memory_interval_ms == defaults.collect.memory_interval_ms);
  CHECK(cfg->collect.agent_backoff_max_ms == defaults.collect.agent_backoff_max_ms);
  CHECK(cfg->agent.timeout_s == defaults.agent.timeout_s);
  CHECK(cfg->agent.exec_deadline_ms == defaults.agent.exec_deadline_ms);
  CHECK(cfg->memory.banner_start == defaults.memory.banner_start);
  CHECK(cfg->memory.banner_length == defaults.memory.banner_length);
  CHECK(cfg->memory.text_start == defaults.memory.text_start);
  CHECK(cfg->memory.text_length == defaults.memory.text_length);
  CHECK(cfg->memory.gold_by_vm.empty());
  CHECK(cfg->alerts_file.empty());
  CHECK(cfg->alerts_window_ms == defaults.alerts_window_ms);
}

TEST_CASE("hostmon config: collectors and alerts", "[hostmon][config]") {
  auto cfg = parseHostmonConfig(R"(
collect:
  enabled: false
  agent_interval_ms: 500
  agent_timeout_s: 2
  agent_exec_deadline_ms: 9000
  agent_backoff_max_ms: 20000
  memory_interval_ms: 30000
  memory_banner: {start: 0x2000000, length: 33554432}
  kernel_text: {start: 0x1000000, length: 0x100000}
  gold_text_sha256:
    by_vm: {web-1: "AB01000000000000000000000000000000000000000000000000000000000000"}
    by_manifest: {web-v3: "cd02000000000000000000000000000000000000000000000000000000000000"}
alerts:
  file: /var/log/goldgate/hostmon-alerts.jsonl
  window_ms: 0
)",
                                "c.yaml");
  REQUIRE(cfg.has_value());
  CHECK_FALSE(cfg->collect.enabled);
  CHECK(cfg->collect.agent_interval_ms == 500);
  CHECK(cfg->agent.timeout_s == 2);
  CHECK(cfg->agent.exec_deadline_ms == 9000);
  CHECK(cfg->collect.agent_backoff_max_ms == 20000);
  CHECK(cfg->collect.memory_interval_ms == 30000);
  CHECK(cfg->memory.banner_start == 0x2000000);
  CHECK(cfg->memory.banner_length == 32u << 20);
  CHECK(cfg->memory.text_start == 0x1000000);
  CHECK(cfg->memory.text_length == 0x100000);
  CHECK(cfg->memory.gold_by_vm.at("web-1") == "ab01" + std::string(60, '0'));
  CHECK(cfg->memory.gold_by_manifest.at("web-v3") == "cd02" + std::string(60, '0'));
  CHECK(cfg->alerts_file == "/var/log/goldgate/hostmon-alerts.jsonl");
  CHECK(cfg->alerts_window_ms == 0);
}

TEST_CASE("hostmon config: values are read", "[hostmon][config]") {
  auto cfg = parseHostmonConfig(R"(
libvirt:
  uri: test:///default
  readonly: yes
  reconnect: {min_ms: 100, max_ms: 2000}
  keepalive: {interval_s: 2, count: 4}
control:
  socket: /tmp/gg/hostmon.sock
  group: wheel
)",
                                "h.yaml");
  REQUIRE(cfg.has_value());
  CHECK(cfg->libvirt.uri == "test:///default");
  CHECK(cfg->libvirt.readonly);
  CHECK(cfg->libvirt.reconnect_min_ms == 100);
  CHECK(cfg->libvirt.reconnect_max_ms == 2000);
  CHECK(cfg->libvirt.keepalive_interval_s == 2);
  CHECK(cfg->libvirt.keepalive_count == 4);
  CHECK(cfg->control_socket == "/tmp/gg/hostmon.sock");
  CHECK(cfg->control_group == "wheel");

  auto empty = parseHostmonConfig("", "empty.yaml");
  REQUIRE(empty.has_value());
  CHECK(empty->libvirt.uri == "qemu:///system");

  auto missing = loadHostmonConfig("/nonexistent/hostmon.yaml");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Error::Code::kIo);
}

TEST_CASE("bad hostmon configurations fail with file:line and the expected reason", "[hostmon][config]") {
  int cases = test::checkBadFiles(
      fs::path(GOLDGATE_TEST_DATA_DIR) / "bad-hostmon-config",
      [](const std::string& text, const std::string& name) { return parseHostmonConfig(text, name); });
  CHECK(cases >= 24);
}

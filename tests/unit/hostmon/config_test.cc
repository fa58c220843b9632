// Contract tests of goldgate-hostmon's configuration parser (hostmon/src/config.cc). Error paths
// are table-driven: every file in tests/data/bad-hostmon-config/ starts with "# expect: <line>: <text>".
#include <catch2/catch.hpp>

#include <filesystem>

#include "expect_table.h"
#include "goldgate/hostmon/config.h"

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
  int cases = test::checkBadFiles(fs::path(GOLDGATE_TEST_DATA_DIR) / "bad-hostmon-config",
                                  [](const std::string& text, const std::string& name) { return parseHostmonConfig(text, name); });
  CHECK(cases >= 15);
}

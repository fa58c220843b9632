// Contract tests of the configuration parser (dataplane/src/config.cc).
//
// Error paths are table-driven: every file in tests/data/bad-config/ and tests/data/bad-segments/
// starts with a line
//     # expect: <line>: <part of the message>
// and parsing it must fail with a message that starts with "<file>:<line>: " and contains that
// part. A folder in bad-segments/ is one case made of several files, parsed together in name order;
// the file carrying the `# expect:` line is the one the error must name. To cover a new error path,
// add a file: no code changes needed.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "expect_table.h"
#include "goldgate/dataplane/config.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::dataplane;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
namespace fs = std::filesystem;

using goldgate::test::Expectation;
using goldgate::test::expectationOf;
using goldgate::test::readText;
using goldgate::test::sortedEntries;
using goldgate::test::TempDir;

namespace {

const fs::path kDataDir = GOLDGATE_TEST_DATA_DIR;

// The switch configuration bad-segments/ is checked against.
const char* kSwitchYaml = R"(
ports:
  - {name: vm1, devargs: net_null0, vm: web-1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}
  - {name: vm2, devargs: net_null1, vm: db-1}
  - {name: up0, devargs: net_null2, role: uplink}
)";

SwitchConfig fixedSwitch() {
  auto sw = parseSwitchConfig(kSwitchYaml, "goldgate.yaml");
  REQUIRE(sw.has_value());
  return *sw;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Error paths, table-driven.

TEST_CASE("bad switch configurations fail with file:line and the expected reason", "[config]") {
  int cases = goldgate::test::checkBadFiles(
      kDataDir / "bad-config",
      [](const std::string& text, const std::string& name) { return parseSwitchConfig(text, name); });
  CHECK(cases >= 70);  // the table is there: a missing folder must not pass as "no failures"
}

TEST_CASE("bad segment files fail with file:line and the expected reason", "[config]") {
  const SwitchConfig sw = fixedSwitch();
  const fs::path root = kDataDir / "bad-segments";
  int cases = 0;
  for (const auto& entry : sortedEntries(root)) {
    // One case: a .yaml file alone, or every .yaml file of a folder in name order.
    std::vector<fs::path> paths;
    if (fs::is_directory(entry)) {
      for (const auto& p : sortedEntries(entry))
        if (p.extension() == ".yaml") paths.push_back(p);
    } else if (entry.extension() == ".yaml") {
      paths.push_back(entry);
    } else {
      continue;
    }
    const std::string caseName = entry.filename().string();
    DYNAMIC_SECTION(caseName) {
      std::vector<std::pair<std::string, std::string>> files;
      std::optional<Expectation> expect;
      std::string expectFile;
      for (const auto& p : paths) {
        std::string name = fs::relative(p, root).string();
        std::string text = readText(p);
        if (auto e = expectationOf(text)) {
          if (expect) FAIL("more than one file of the case has an '# expect:' line");
          expect = e;
          expectFile = name;
        }
        files.emplace_back(name, text);
      }
      if (!expect) FAIL("no file of the case has a '# expect: <line>: <text>' first line");
      auto r = parseSegments(files, sw);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == Error::Code::kParse);
      CHECK_THAT(r.error().message, StartsWith(expectFile + ":" + std::to_string(expect->line) + ": "));
      CHECK_THAT(r.error().message, Contains(expect->text));
    }
    ++cases;
  }
  CHECK(cases >= 80);
}

TEST_CASE("loadSwitchConfig reports a missing file and names the path in parse errors", "[config]") {
  auto missing = loadSwitchConfig("/nonexistent/goldgate.yaml");
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error().message, StartsWith("/nonexistent/goldgate.yaml:0: cannot open"));

  const fs::path bad = kDataDir / "bad-config" / "duplicate-port-name.yaml";
  auto r = loadSwitchConfig(bad.string());
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, StartsWith(bad.string() + ":4: duplicate port name 'vm1'"));
}

TEST_CASE("loadSegments reports a missing folder and names each file in errors", "[config]") {
  const SwitchConfig sw = fixedSwitch();
  auto missing = loadSegments("/nonexistent/segments", sw);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Error::Code::kNotFound);
  CHECK_THAT(missing.error().message, StartsWith("/nonexistent/segments:0: segments folder not found"));

  TempDir dir;
  dir.write("10-ok.yaml", "segments:\n  - name: web\n");
  dir.write("20-bad.yaml", "rules:\n  - {from: web, to: nowhere, action: allow}\n");
  auto r = loadSegments(dir.path().string(), sw);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message,
             StartsWith((dir.path() / "20-bad.yaml").string() + ":2: to: unknown segment 'nowhere'"));
}

// ---------------------------------------------------------------------------------------------
// Valid configurations.

TEST_CASE("a complete switch configuration sets every field", "[config]") {
  const char* yaml = R"(# every key there is
mode: l2
eal: [-l, "0-1", --log-level, "*:info"]
mbufs: 32767
rx_ring: 512
tx_ring: 2048
flow_table:
  size: 131072
timeouts:
  tcp_syn: 5
  tcp_established: 3600
  tcp_closing: 60
  tcp_closed: 2
  udp_single: 10
  udp_both: 90
  icmp: 15
  other: 20
segments_dir: policy
quarantine_file: /tmp/gg-quarantine
control:
  socket: /tmp/gg.sock
  group: goldgate
alerts:
  file: /tmp/alerts.jsonl
  window_ms: 0
ports:
  - name: vm1
    devargs: net_vhost0,iface=/tmp/vm1.sock
    role: vm
    vm: web-1
    labels: {tier: web, env: prod}
    mac: "02:AA:bb:cc:dd:01"
    ips: [10.0.0.1, "2001:db8::1"]
  - name: vm2
    devargs: net_vhost1,iface=/tmp/vm2.sock
    vm: db-1
    ips: 10.0.1.1
  - name: up0
    devargs: "0000:3b:00.0"
    role: uplink
)";
  auto r = parseSwitchConfig(yaml, "/etc/goldgate/goldgate.yaml");
  REQUIRE(r.has_value());
  const SwitchConfig& sw = *r;
  CHECK(sw.source_file == "/etc/goldgate/goldgate.yaml");
  CHECK(sw.mode == SwitchMode::kL2);
  CHECK(sw.eal_args == std::vector<std::string>{"-l", "0-1", "--log-level", "*:info"});
  CHECK(sw.mbufs == 32767);
  CHECK(sw.rx_ring == 512);
  CHECK(sw.tx_ring == 2048);
  CHECK(sw.flow_table_size == 131072);
  CHECK(sw.timeouts.tcp_syn == 5);
  CHECK(sw.timeouts.tcp_established == 3600);
  CHECK(sw.timeouts.tcp_closing == 60);
  CHECK(sw.timeouts.tcp_closed == 2);
  CHECK(sw.timeouts.udp_single == 10);
  CHECK(sw.timeouts.udp_both == 90);
  CHECK(sw.timeouts.icmp == 15);
  CHECK(sw.timeouts.other == 20);
  CHECK(sw.segments_dir == "policy");
  CHECK(segmentsDirOf(sw) == "/etc/goldgate/policy");
  CHECK(sw.quarantine_file == "/tmp/gg-quarantine");
  CHECK(sw.control_socket == "/tmp/gg.sock");
  CHECK(sw.control_group == "goldgate");
  CHECK(sw.alert_file == "/tmp/alerts.jsonl");
  CHECK(sw.alert_window_ms == 0);

  REQUIRE(sw.ports.size() == 3);
  const PortConfig& vm1 = sw.ports[0];
  CHECK(vm1.name == "vm1");
  CHECK(vm1.devargs == "net_vhost0,iface=/tmp/vm1.sock");
  CHECK(vm1.role == PortRole::kVm);
  CHECK(vm1.vm == "web-1");
  CHECK(vm1.labels == std::map<std::string, std::string>{{"env", "prod"}, {"tier", "web"}});
  REQUIRE(vm1.mac.has_value());
  CHECK(vm1.mac->toString() == "02:aa:bb:cc:dd:01");
  REQUIRE(vm1.ips.size() == 2);
  CHECK(vm1.ips[0].toString() == "10.0.0.1");
  CHECK(vm1.ips[1].toString() == "2001:db8::1");
  CHECK(vm1.loc.file == "/etc/goldgate/goldgate.yaml");
  CHECK(vm1.loc.line == 27);
  CHECK(vm1.loc.str() == "/etc/goldgate/goldgate.yaml:27");

  const PortConfig& vm2 = sw.ports[1];
  CHECK(vm2.role == PortRole::kVm);  // the default role
  CHECK_FALSE(vm2.mac.has_value());
  REQUIRE(vm2.ips.size() == 1);  // a single address may be written as a scalar
  CHECK(vm2.ips[0].family == 4);
  CHECK(vm2.ips[0].toString() == "10.0.1.1");
  CHECK(vm2.loc.line == 34);

  const PortConfig& up0 = sw.ports[2];
  CHECK(up0.role == PortRole::kUplink);
  CHECK(up0.devargs == "0000:3b:00.0");
  CHECK(up0.vm.empty());
  CHECK(up0.labels.empty());
}

TEST_CASE("omitted keys take their defaults", "[config]") {
  auto r = parseSwitchConfig("ports:\n  - {name: vm1, devargs: net_null0}\n", "goldgate.yaml");
  REQUIRE(r.has_value());
  const SwitchConfig defaults;
  CHECK(r->mode == SwitchMode::kSecure);
  CHECK(r->eal_args.empty());
  CHECK(r->mbufs == defaults.mbufs);
  CHECK(r->mbufs == 16383);
  CHECK(r->rx_ring == 1024);
  CHECK(r->tx_ring == 1024);
  CHECK(r->flow_table_size == 65536);
  CHECK(r->timeouts.tcp_syn == 30);
  CHECK(r->timeouts.tcp_established == 7440);
  CHECK(r->timeouts.tcp_closing == 120);
  CHECK(r->timeouts.tcp_closed == 10);
  CHECK(r->timeouts.udp_single == 30);
  CHECK(r->timeouts.udp_both == 180);
  CHECK(r->timeouts.icmp == 30);
  CHECK(r->timeouts.other == 60);
  CHECK(r->segments_dir.empty());
  CHECK(r->quarantine_file == "/var/lib/goldgate/quarantine");
  CHECK(r->control_socket == "/run/goldgate/switch.sock");
  CHECK(r->control_group.empty());
  CHECK(r->alert_file == "/var/log/goldgate/alerts.jsonl");
  CHECK(r->alert_window_ms == 5000);
  REQUIRE(r->ports.size() == 1);
  CHECK(r->ports[0].role == PortRole::kVm);
  CHECK_FALSE(r->ports[0].mac.has_value());
  CHECK(r->ports[0].ips.empty());

  // Range limits themselves are accepted.
  auto limits = parseSwitchConfig(
      "mode: secure\nmbufs: 1023\nrx_ring: 64\ntx_ring: 4096\nflow_table: {size: 64}\nalerts: {window_ms: 3600000}\n"
      "timeouts: {tcp_syn: 1, tcp_established: 604800}\nports: [{name: " +
          std::string(32, 'p') + ", devargs: x}]\n",
      "limits.yaml");
  REQUIRE(limits.has_value());
  CHECK(limits->mode == SwitchMode::kSecure);
  CHECK(limits->mbufs == 1023);
  CHECK(limits->flow_table_size == 64);
  CHECK(limits->alert_window_ms == 3600000);
  CHECK(limits->timeouts.tcp_established == 604800);

  // 32 ports is the most there may be.
  std::string many = "ports:\n";
  for (int i = 0; i < 32; ++i) many += "  - {name: p" + std::to_string(i) + ", devargs: x}\n";
  auto full = parseSwitchConfig(many, "many.yaml");
  REQUIRE(full.has_value());
  CHECK(full->ports.size() == 32);
}

TEST_CASE("segmentsDirOf resolves relative folders against the config file", "[config]") {
  SwitchConfig sw;
  sw.source_file = "/etc/goldgate/goldgate.yaml";
  CHECK(segmentsDirOf(sw) == "/etc/goldgate/segments");  // default folder name
  sw.segments_dir = "policy/segments";
  CHECK(segmentsDirOf(sw) == "/etc/goldgate/policy/segments");
  sw.segments_dir = "../shared/segments";
  CHECK(segmentsDirOf(sw) == "/etc/shared/segments");
  sw.segments_dir = "/srv/goldgate/segments";
  CHECK(segmentsDirOf(sw) == "/srv/goldgate/segments");  // absolute: as given

  sw.source_file = "configs/goldgate.yaml";
  sw.segments_dir = "";
  CHECK(segmentsDirOf(sw) == "configs/segments");
  sw.source_file = "goldgate.yaml";
  CHECK(segmentsDirOf(sw) == "segments");
}

TEST_CASE("valid segment files: members, rules in priority order, quarantine, default", "[config]") {
  const SwitchConfig sw = fixedSwitch();
  // Files are given in order; rules of the first file name segments of the second.
  const std::string first = R"(# rules first, segments later
rules:
  - name: web-to-db
    from: web
    to: db
    proto: tcp
    ports: [5432, 6000-6010]
    action: allow
  - {from: any, to: db, proto: udp, ports: 53, action: allow-log}
  - {name: lan, from: 192.168.0.0/16, to: web, proto: "132", ports: 9, action: deny-log, log: no}
  - {name: out, from: web, to: external, proto: icmp, action: allow-and-log}
  - {name: v6, from: "2001:db8::/32", to: "2001:db8:1::/48", proto: icmpv6, action: deny, log: yes}
  - {name: host, from: 10.0.0.1, to: any, proto: any, action: allow, log: off}
)";
  const std::string second = R"(segments:
  - name: web
    description: front end
    members: {vms: web-1, labels: {tier: web}}
  - name: db
    members:
      ports: [vm2]
quarantine:
  allow:
    - {name: dns, to: 10.0.0.53, proto: udp, ports: 53, action: allow}
default:
  action: deny
  log: false
)";
  auto r = parseSegments({{"a/first.yaml", first}, {"second.yaml", second}, {"empty.yaml", "# nothing yet\n"}}, sw);
  REQUIRE(r.has_value());
  const SegmentsConfig& s = *r;
  CHECK(s.files == std::vector<std::string>{"a/first.yaml", "second.yaml", "empty.yaml"});
  CHECK_FALSE(s.default_log);

  REQUIRE(s.segments.size() == 2);
  CHECK(s.segments[0].name == "web");
  CHECK(s.segments[0].vms == std::vector<std::string>{"web-1"});
  CHECK(s.segments[0].labels == std::map<std::string, std::string>{{"tier", "web"}});
  CHECK(s.segments[0].loc.str() == "second.yaml:2");
  CHECK(s.segments[1].name == "db");
  CHECK(s.segments[1].ports == std::vector<std::string>{"vm2"});

  REQUIRE(s.rules.size() == 6);
  const RuleConfig& webDb = s.rules[0];
  CHECK(webDb.name == "web-to-db");
  CHECK(webDb.from.kind == Endpoint::Kind::kSegment);
  CHECK(webDb.from.segment == "web");
  CHECK(webDb.to.str() == "db");
  CHECK(webDb.protocol == 6);
  REQUIRE(webDb.ports.size() == 2);
  CHECK(webDb.ports[0].lo == 5432);
  CHECK(webDb.ports[0].hi == 5432);
  CHECK(webDb.ports[1].lo == 6000);
  CHECK(webDb.ports[1].hi == 6010);
  CHECK(webDb.action == Action::kAllow);
  CHECK_FALSE(webDb.log);
  CHECK(webDb.loc.str() == "a/first.yaml:3");

  const RuleConfig& dns = s.rules[1];
  CHECK(dns.name == "first.yaml:9");  // unnamed: file name (without folder) and line
  CHECK(dns.from.kind == Endpoint::Kind::kAny);
  CHECK(dns.protocol == 17);
  CHECK(dns.action == Action::kAllow);
  CHECK(dns.log);

  const RuleConfig& lan = s.rules[2];
  CHECK(lan.from.kind == Endpoint::Kind::kCidr);
  CHECK(lan.from.str() == "192.168.0.0/16");
  CHECK(lan.protocol == 132);
  CHECK(lan.action == Action::kDeny);
  CHECK_FALSE(lan.log);  // an explicit log: overrides the -log action

  CHECK(s.rules[3].to.kind == Endpoint::Kind::kExternal);
  CHECK(s.rules[3].protocol == 1);
  CHECK(s.rules[3].log);
  CHECK(s.rules[4].protocol == 58);
  CHECK(s.rules[4].from.cidr.addr.family == 6);
  CHECK(s.rules[4].to.str() == "2001:db8:1::/48");
  CHECK(s.rules[4].log);
  const RuleConfig& host = s.rules[5];
  CHECK(host.from.kind == Endpoint::Kind::kCidr);
  CHECK(host.from.cidr.length == 32);  // a bare address is a full-length prefix
  CHECK(host.protocol == 0);
  CHECK(host.ports.empty());
  CHECK_FALSE(host.log);

  REQUIRE(s.quarantine_rules.size() == 1);
  const RuleConfig& q = s.quarantine_rules[0];
  CHECK(q.name == "dns");
  CHECK(q.from.kind == Endpoint::Kind::kSegment);
  CHECK(q.from.segment == "quarantine");
  CHECK(q.to.str() == "10.0.0.53/32");
  CHECK(q.action == Action::kAllow);
}

TEST_CASE("segment files: empty input and an empty file are valid", "[config]") {
  const SwitchConfig sw = fixedSwitch();
  auto none = parseSegments({}, sw);
  REQUIRE(none.has_value());
  CHECK(none->segments.empty());
  CHECK(none->rules.empty());
  CHECK(none->default_log);

  auto blank = parseSegments({{"blank.yaml", ""}}, sw);
  REQUIRE(blank.has_value());
  CHECK(blank->files.size() == 1);
}

TEST_CASE("loadSegments reads *.yaml and *.yml in name order and ignores other files", "[config]") {
  const SwitchConfig sw = fixedSwitch();
  TempDir dir;
  dir.write("20-rules.yml", "rules:\n  - {name: second, from: web, to: db, action: allow}\n");
  dir.write("10-segments.yaml",
            "segments: [{name: web}, {name: db}]\nrules:\n  - {name: first, from: db, to: web, action: deny}\n");
  dir.write("README.txt", "not: [yaml\n");
  dir.write("30-old.yaml.bak", "garbage: [\n");
  auto r = loadSegments(dir.path().string(), sw);
  REQUIRE(r.has_value());
  REQUIRE(r->files.size() == 2);
  CHECK(r->files[0] == (dir.path() / "10-segments.yaml").string());
  CHECK(r->files[1] == (dir.path() / "20-rules.yml").string());
  REQUIRE(r->rules.size() == 2);
  CHECK(r->rules[0].name == "first");
  CHECK(r->rules[1].name == "second");
}

TEST_CASE("inspection.segments must name segments the files define, with the line of a bad one", "[config]") {
  auto sw = parseSwitchConfig(
      std::string(kSwitchYaml) + "inspection:\n  classes: classes\n  segments:\n    web: off\n    wbe: 4096\n",
      "goldgate.yaml");
  REQUIRE(sw.has_value());
  auto segs = parseSegments({{"s.yaml", "segments:\n  - {name: web, members: {vms: [web-1]}}\n"}}, *sw);
  REQUIRE(segs.has_value());
  auto r = checkInspectionSegments(*sw, *segs);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "goldgate.yaml:10: inspection.segments: 'wbe' is no segment in the segment files (web)");
  sw->inspection.segments.erase("wbe");
  CHECK(checkInspectionSegments(*sw, *segs).has_value());
  sw->inspection.segments["quarantine"] = 0;  // the built-in segment is one too
  CHECK(checkInspectionSegments(*sw, *segs).has_value());
}

TEST_CASE("protocolName and Endpoint::str", "[config]") {
  CHECK(std::string(protocolName(0)) == "any");
  CHECK(std::string(protocolName(1)) == "icmp");
  CHECK(std::string(protocolName(6)) == "tcp");
  CHECK(std::string(protocolName(17)) == "udp");
  CHECK(std::string(protocolName(58)) == "icmpv6");
  CHECK(std::string(protocolName(132)) == "sctp");
  CHECK(std::string(protocolName(47)) == "ip");
  Endpoint any;
  CHECK(any.str() == "any");
  Endpoint ext;
  ext.kind = Endpoint::Kind::kExternal;
  CHECK(ext.str() == "external");
}

// ---------------------------------------------------------------------------------------------
// Address types.

TEST_CASE("MacAddr parses, prints and rejects", "[config][net_types]") {
  auto m = MacAddr::parse("02:AB:cd:00:10:ff");
  REQUIRE(m.has_value());
  CHECK(m->toString() == "02:ab:cd:00:10:ff");
  CHECK(m->toU64() == 0x02abcd0010ffull);
  CHECK_FALSE(m->isMulticast());
  CHECK(MacAddr::parse(m->toString()) == m);
  CHECK(MacAddr::parse("01:00:5e:00:00:fb")->isMulticast());
  CHECK(MacAddr::parse("ff:ff:ff:ff:ff:ff")->toU64() == 0xffffffffffffull);

  for (const char* bad :
       {"", "02:ab:cd:00:10", "02:ab:cd:00:10:ff:", "02-ab-cd-00-10-ff", "02:ab:cd:00:10:fg", "02:ab:cd:00:10:f",
        "2:ab:cd:00:10:ff0", "02:ab:cd:00:10:ff0", "0x:ab:cd:00:10:ff", "02:ab:cd:00:10 ff"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(MacAddr::parse(bad).has_value());
  }
}

TEST_CASE("IpAddr parses and prints both families", "[config][net_types]") {
  auto v4 = IpAddr::parse("192.0.2.33");
  REQUIRE(v4.has_value());
  CHECK(v4->family == 4);
  CHECK(v4->bytes[0] == 192);
  CHECK(v4->bytes[3] == 33);
  CHECK(v4->toString() == "192.0.2.33");

  auto v6 = IpAddr::parse("2001:0DB8:0000::0001");
  REQUIRE(v6.has_value());
  CHECK(v6->family == 6);
  CHECK(v6->toString() == "2001:db8::1");
  CHECK(IpAddr::parse("::ffff:1.2.3.4")->family == 6);

  const uint8_t wire[4] = {10, 1, 2, 3};
  CHECK(IpAddr::fromBytes(4, wire) == IpAddr::parse("10.1.2.3"));
  CHECK(IpAddr{}.toString() == "-");

  for (const char* bad :
       {"", "10.0.0.256", "10.0.0", "10.0.0.1.2", "10.0.0.1/32", "2001:db8:::1", "host", " 10.0.0.1"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(IpAddr::parse(bad).has_value());
  }
}

TEST_CASE("Cidr parses, prints, matches and rejects host bits and bad lengths", "[config][net_types]") {
  for (const char* text : {"10.0.0.0/8", "192.168.4.0/22", "0.0.0.0/0", "10.1.2.3/32", "2001:db8::/32", "::/0",
                           "fe80::/10", "2001:db8::1/128"}) {
    INFO(text);
    auto c = Cidr::parse(text);
    REQUIRE(c.has_value());
    CHECK(c->toString() == text);
  }
  CHECK(Cidr::parse("10.1.2.3")->toString() == "10.1.2.3/32");
  CHECK(Cidr::parse("2001:db8::5")->length == 128);

  auto net = Cidr::parse("192.168.4.0/22");
  CHECK(net->contains(*IpAddr::parse("192.168.4.0")));
  CHECK(net->contains(*IpAddr::parse("192.168.7.255")));
  CHECK_FALSE(net->contains(*IpAddr::parse("192.168.8.0")));
  CHECK_FALSE(net->contains(*IpAddr::parse("192.168.3.255")));
  CHECK_FALSE(net->contains(*IpAddr::parse("::ffff:192.168.4.1")));  // other family
  CHECK(Cidr::parse("0.0.0.0/0")->contains(*IpAddr::parse("203.0.113.9")));
  auto v6 = Cidr::parse("2001:db8:1::/48");
  CHECK(v6->contains(*IpAddr::parse("2001:db8:1:ffff::1")));
  CHECK_FALSE(v6->contains(*IpAddr::parse("2001:db8:2::1")));

  for (const char* bad :
       {"10.1.2.3/8", "192.168.5.0/22", "10.0.0.0/33", "2001:db8::/129", "2001:db8::1/64", "10.0.0.0/", "10.0.0.0/-1",
        "10.0.0.0/abc", "10.0.0.0/0008", "10.0.0.0/8/8", "/8", "web/24", "10.0.0/8"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(Cidr::parse(bad).has_value());
  }
}

// Unit tests of the compiled microsegment policy (dataplane/src/policy.cc): configuration parsed
// from inline YAML, compiled into rte_acl tables, then classified with keys built as the worker
// builds them (worker.cc aclKeyFromFlow: every field in network order). Runs in unit_dpdk_tests.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/policy.h"

using namespace goldgate;
using namespace goldgate::dataplane;

namespace {

// Every compile here gets a generation of its own, as the switch's publish() gives them.
uint64_t freshGeneration() {
  static uint64_t g = 1000;
  return ++g;
}

SwitchConfig switchOf(const std::string& yaml) {
  auto r = parseSwitchConfig(yaml, "goldgate.yaml");
  INFO((r.has_value() ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

SegmentsConfig segmentsOf(const std::string& yaml, const SwitchConfig& sw) {
  auto r = parseSegments({{"policy.yaml", yaml}}, sw);
  INFO((r.has_value() ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

std::unique_ptr<CompiledPolicy> compile(const SwitchConfig& sw, const SegmentsConfig& segs,
                                        const std::set<std::string>& quarantined = {}, uint32_t workers = 1) {
  auto r = CompiledPolicy::compile(sw, segs, quarantined, freshGeneration(), workers);
  INFO((r.has_value() ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  return std::move(*r);
}

void copyIp(const char* text, uint8_t family, void* out) {
  auto ip = IpAddr::parse(text);
  REQUIRE(ip.has_value());
  REQUIRE(ip->family == family);
  std::memcpy(out, ip->bytes.data(), family == 4 ? 4 : 16);
}

// An ACL key as worker.cc builds it: segment ids and ports converted to network order,
// addresses copied in wire order.
AclKey4 key4(uint8_t proto, uint16_t srcSeg, uint16_t dstSeg, const char* src, const char* dst, uint16_t sport,
             uint16_t dport) {
  AclKey4 k{};
  k.proto = proto;
  k.src_seg = htons(srcSeg);
  k.dst_seg = htons(dstSeg);
  copyIp(src, 4, &k.src_ip);
  copyIp(dst, 4, &k.dst_ip);
  k.sport = htons(sport);
  k.dport = htons(dport);
  return k;
}

AclKey6 key6(uint8_t proto, uint16_t srcSeg, uint16_t dstSeg, const char* src, const char* dst, uint16_t sport,
             uint16_t dport) {
  AclKey6 k{};
  k.proto = proto;
  k.src_seg = htons(srcSeg);
  k.dst_seg = htons(dstSeg);
  copyIp(src, 6, k.src_ip);
  copyIp(dst, 6, k.dst_ip);
  k.sport = htons(sport);
  k.dport = htons(dport);
  return k;
}

// Classifies all keys in one call (as the worker does per burst); returns the rule names.
std::vector<std::string> classify(const CompiledPolicy& p, const std::vector<AclKey4>& keys) {
  std::vector<const uint8_t*> ptrs;
  for (const auto& k : keys) ptrs.push_back(reinterpret_cast<const uint8_t*>(&k));
  std::vector<uint32_t> ids(keys.size(), 0xdeadbeef);
  p.classify4(ptrs.data(), ids.data(), static_cast<uint32_t>(keys.size()));
  std::vector<std::string> names;
  for (uint32_t id : ids) {
    REQUIRE(id < p.ruleCount());
    names.push_back(p.rule(id).name);
  }
  return names;
}

std::vector<std::string> classify(const CompiledPolicy& p, const std::vector<AclKey6>& keys) {
  std::vector<const uint8_t*> ptrs;
  for (const auto& k : keys) ptrs.push_back(reinterpret_cast<const uint8_t*>(&k));
  std::vector<uint32_t> ids(keys.size(), 0xdeadbeef);
  p.classify6(ptrs.data(), ids.data(), static_cast<uint32_t>(keys.size()));
  std::vector<std::string> names;
  for (uint32_t id : ids) {
    REQUIRE(id < p.ruleCount());
    names.push_back(p.rule(id).name);
  }
  return names;
}

uint32_t classifyId(const CompiledPolicy& p, const AclKey4& k) {
  const uint8_t* ptr = reinterpret_cast<const uint8_t*>(&k);
  uint32_t id = 0xdeadbeef;
  p.classify4(&ptr, &id, 1);
  return id;
}

uint32_t classifyId(const CompiledPolicy& p, const AclKey6& k) {
  const uint8_t* ptr = reinterpret_cast<const uint8_t*>(&k);
  uint32_t id = 0xdeadbeef;
  p.classify6(&ptr, &id, 1);
  return id;
}

const char* kSwitch = R"(
ports:
  - {name: web1, devargs: a, vm: web-1, mac: "02:00:00:00:00:01", ips: [10.0.0.1, "2001:db8::1"]}
  - {name: db1, devargs: b, vm: db-1, mac: "02:00:00:00:00:02", ips: [10.0.1.1]}
  - {name: app1, devargs: c, vm: app-1, labels: {tier: app, env: prod}}
  - {name: spare, devargs: d}
  - {name: up0, devargs: e, role: uplink}
  - {name: web2, devargs: f, vm: web-2, mac: "02:00:00:00:00:06", ips: [10.0.0.2]}
)";
enum : uint16_t { kWeb1 = 0, kDb1 = 1, kApp1 = 2, kSpare = 3, kUp0 = 4, kWeb2 = 5 };

const char* kSegments = R"(
segments:
  - name: web
    members: {vms: [web-1, web-2]}
  - name: db
    members: {ports: [db1]}
  - name: app
    members: {labels: {tier: app}}
rules:
  - {name: no-ssh-to-db, from: web, to: db, proto: tcp, ports: 22, action: deny-log}
  - {name: web-to-db, from: web, to: db, proto: tcp, ports: [5432, 20-30], action: allow}
  - {name: app-to-web, from: app, to: web, proto: tcp, ports: 80, action: allow}
  - {name: lan-https, from: 192.168.0.0/16, to: web, proto: tcp, ports: 443, action: allow}
  - {name: dns, from: any, to: db, proto: udp, ports: 53, action: allow}
  - {name: web-to-app, from: web, to: app, action: allow}
  - {name: v6-alt-http, from: "2001:db8:1::/48", to: web, proto: tcp, ports: 8080, action: allow}
  - {name: web-out, from: web, to: external, proto: tcp, ports: 443, action: allow-log}
  - {name: no-bad-net, from: any, to: 10.66.0.0/16, action: deny}
quarantine:
  allow:
    - {name: remediation, to: 10.9.9.9, proto: tcp, ports: 443, action: allow}
)";

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;

}  // namespace

TEST_CASE("CompiledPolicy: ports get their segments and bindings", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw));
  REQUIRE(p->portCount() == 6);
  CHECK(p->segmentName(p->portSegment(kWeb1)) == "web");  // by VM name
  CHECK(p->segmentName(p->portSegment(kWeb2)) == "web");
  CHECK(p->segmentName(p->portSegment(kDb1)) == "db");    // by port name
  CHECK(p->segmentName(p->portSegment(kApp1)) == "app");  // by labels
  CHECK(p->portSegment(kWeb1) >= kSegFirstUser);
  CHECK(p->portSegment(kSpare) == kSegUnassigned);  // in no segment: closed
  CHECK(p->portSegment(kUp0) == kSegExternal);
  CHECK(p->segmentName(kSegUnassigned) == "unassigned");
  CHECK(p->segmentName(kSegQuarantine) == "quarantine");
  CHECK(p->segmentName(kSegExternal) == "external");
  CHECK(p->segmentName(999) == "?");

  CHECK(p->isUplink(kUp0));
  CHECK_FALSE(p->isUplink(kWeb1));
  CHECK(p->uplinkMask() == (1u << kUp0));
  CHECK(p->port(kWeb1).name == "web1");
  CHECK(p->port(kWeb1).vm == "web-1");
  CHECK(p->port(kWeb1).mac == 0x020000000001ull);
  CHECK(p->port(kApp1).mac == 0);
  CHECK_FALSE(p->port(kWeb2).quarantined);
}

TEST_CASE("CompiledPolicy: rule metadata in priority order", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw));
  REQUIRE(p->ruleCount() == 1 + 9 + 1);
  CHECK(p->rule(0).name == "default");
  CHECK_FALSE(p->ruleAllows(0));
  CHECK(p->ruleLogs(0));  // default_log defaults to true
  CHECK(p->rule(1).name == "no-ssh-to-db");
  CHECK_FALSE(p->ruleAllows(1));
  CHECK(p->ruleLogs(1));
  CHECK(p->rule(2).name == "web-to-db");
  CHECK(p->rule(2).ports == "5432,20-30");
  CHECK(p->rule(2).protocol == "tcp");
  CHECK(p->rule(2).from == "web");
  CHECK(p->rule(2).to == "db");
  CHECK(p->ruleAllows(2));
  CHECK_FALSE(p->ruleLogs(2));
  CHECK(p->rule(6).protocol == "any");
  CHECK(p->rule(6).ports == "any");
  CHECK(p->rule(8).name == "web-out");
  CHECK(p->ruleAllows(8));
  CHECK(p->ruleLogs(8));
  CHECK(p->rule(10).name == "remediation");
  CHECK(p->rule(10).quarantine);
  CHECK(p->rule(10).from == "quarantine");
  CHECK(p->rule(10).to == "10.9.9.9/32");
  CHECK(p->rule(2).loc.str() == "policy.yaml:11");
}

TEST_CASE("CompiledPolicy: segment rules, ports, protocols and first match", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw));
  const uint16_t web = p->portSegment(kWeb1), db = p->portSegment(kDb1), app = p->portSegment(kApp1);
  const char *w = "10.0.0.1", *d = "10.0.1.1", *a = "10.0.2.1";

  SECTION("segment to segment on the allowed port only") {
    auto r = classify(*p, {
                              key4(kTcp, web, db, w, d, 40000, 5432), key4(kTcp, web, db, w, d, 40000, 5433),
                              key4(kUdp, web, db, w, d, 40000, 5432),  // wrong protocol
                              key4(kTcp, db, web, d, w, 40000, 5432),  // wrong direction
                              key4(kTcp, app, db, a, d, 40000, 5432),  // wrong source segment
                          });
    CHECK(r == std::vector<std::string>{"web-to-db", "default", "default", "default", "default"});
  }
  SECTION("first match wins: the deny before the allow") {
    auto r = classify(*p, {
                              key4(kTcp, web, db, w, d, 40000, 22),
                              key4(kTcp, web, db, w, d, 40000, 21),
                              key4(kTcp, web, db, w, d, 40000, 23),
                          });
    CHECK(r == std::vector<std::string>{"no-ssh-to-db", "web-to-db", "web-to-db"});
    CHECK_FALSE(p->ruleAllows(classifyId(*p, key4(kTcp, web, db, w, d, 1, 22))));
  }
  SECTION("port ranges include both ends only") {
    auto r = classify(*p, {
                              key4(kTcp, web, db, w, d, 1, 19),
                              key4(kTcp, web, db, w, d, 1, 20),
                              key4(kTcp, web, db, w, d, 1, 30),
                              key4(kTcp, web, db, w, d, 1, 31),
                          });
    CHECK(r == std::vector<std::string>{"default", "web-to-db", "web-to-db", "default"});
  }
  SECTION("source ports do not matter") {
    CHECK(classify(*p, {key4(kTcp, web, db, w, d, 0, 5432), key4(kTcp, web, db, w, d, 65535, 5432)}) ==
          std::vector<std::string>{"web-to-db", "web-to-db"});
  }
  SECTION("proto any matches every protocol") {
    auto r = classify(*p, {
                              key4(kTcp, web, app, w, a, 1, 12345), key4(kUdp, web, app, w, a, 1, 9),
                              key4(kIcmp, web, app, w, a, 7, 7), key4(47, web, app, w, a, 0, 0),
                              key4(kTcp, app, web, a, w, 1, 12345),  // but only in its direction
                          });
    CHECK(r == std::vector<std::string>{"web-to-app", "web-to-app", "web-to-app", "web-to-app", "default"});
  }
  SECTION("a later deny does not shadow an earlier allow") {
    // web-to-app (rule 6) comes before no-bad-net (rule 9).
    CHECK(classify(*p, {key4(kTcp, web, app, w, "10.66.1.1", 1, 80)}) == std::vector<std::string>{"web-to-app"});
    CHECK(classify(*p, {key4(kTcp, db, app, d, "10.66.1.1", 1, 80)}) == std::vector<std::string>{"no-bad-net"});
  }
  SECTION("default deny is result 0") {
    CHECK(classifyId(*p, key4(kTcp, db, app, d, a, 1, 80)) == 0);
    CHECK(classifyId(*p, key4(kUdp, app, web, a, w, 1, 53)) == 0);
  }
}

TEST_CASE("CompiledPolicy: CIDR endpoints and external", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw));
  const uint16_t web = p->portSegment(kWeb1), db = p->portSegment(kDb1);
  auto r = classify(*p, {
                            key4(kTcp, kSegExternal, web, "192.168.5.5", "10.0.0.1", 1, 443),
                            key4(kTcp, kSegExternal, web, "192.168.255.255", "10.0.0.1", 1, 443),
                            key4(kTcp, kSegExternal, web, "192.169.0.1", "10.0.0.1", 1, 443),
                            key4(kTcp, kSegExternal, web, "172.16.0.1", "10.0.0.1", 1, 443),
                            key4(kTcp, db, web, "192.168.5.5", "10.0.0.1", 1, 443),           // any source segment
                            key4(kTcp, kSegExternal, db, "192.168.5.5", "10.0.1.1", 1, 443),  // to web only
                            key4(kTcp, web, kSegExternal, "10.0.0.1", "93.184.216.34", 1, 443),
                            key4(kTcp, web, kSegExternal, "10.0.0.1", "93.184.216.34", 1, 80),
                            key4(kTcp, db, kSegExternal, "10.0.1.1", "93.184.216.34", 1, 443),
                        });
  CHECK(r == std::vector<std::string>{"lan-https", "lan-https", "default", "default", "lan-https", "default", "web-out",
                                      "default", "default"});
}

TEST_CASE("CompiledPolicy: any never includes quarantine or unassigned", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw));
  const uint16_t web = p->portSegment(kWeb1), db = p->portSegment(kDb1), app = p->portSegment(kApp1);
  auto r = classify(*p, {
                            key4(kUdp, app, db, "10.0.2.1", "10.0.1.1", 1, 53),
                            key4(kUdp, kSegExternal, db, "8.8.8.8", "10.0.1.1", 1, 53),
                            key4(kUdp, kSegQuarantine, db, "10.0.0.2", "10.0.1.1", 1, 53),
                            key4(kUdp, kSegUnassigned, db, "10.0.3.1", "10.0.1.1", 1, 53),
                            // a CIDR source does not reach past the rule's segments either
                            key4(kTcp, kSegQuarantine, web, "192.168.1.1", "10.0.0.1", 1, 443),
                        });
  CHECK(r == std::vector<std::string>{"dns", "dns", "default", "default", "default"});
}

TEST_CASE("CompiledPolicy: quarantine allowances", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  const SegmentsConfig segs = segmentsOf(kSegments, sw);
  auto p = compile(sw, segs, {"web2"});
  CHECK(p->portSegment(kWeb2) == kSegQuarantine);
  CHECK(p->port(kWeb2).quarantined);
  CHECK(p->portSegment(kWeb1) != kSegQuarantine);  // its segment peer stays where it was

  const uint16_t db = p->portSegment(kDb1), web = p->portSegment(kWeb1);
  auto r = classify(*p, {
                            key4(kTcp, kSegQuarantine, kSegExternal, "10.0.0.2", "10.9.9.9", 1, 443),
                            key4(kTcp, kSegQuarantine, db, "10.0.0.2", "10.9.9.9", 1, 443),  // wherever it is
                            key4(kTcp, kSegQuarantine, kSegExternal, "10.0.0.2", "10.9.9.9", 1, 80),
                            key4(kTcp, kSegQuarantine, kSegExternal, "10.0.0.2", "10.9.9.10", 1, 443),
                            // user rules from web or from any no longer apply to the quarantined VM
                            key4(kTcp, kSegQuarantine, db, "10.0.0.2", "10.0.1.1", 1, 5432),
                            key4(kUdp, kSegQuarantine, db, "10.0.0.2", "10.0.1.1", 1, 53),
                            // nor do quarantine allowances apply to anyone else
                            key4(kTcp, web, kSegExternal, "10.0.0.1", "10.9.9.9", 1, 443),
                            key4(kTcp, db, kSegExternal, "10.0.1.1", "10.9.9.9", 1, 443),
                        });
  CHECK(r == std::vector<std::string>{"remediation", "remediation", "default", "default", "default", "default",
                                      "web-out", "default"});
}

TEST_CASE("CompiledPolicy: IPv6 keys", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw));
  const uint16_t web = p->portSegment(kWeb1), db = p->portSegment(kDb1);
  auto r =
      classify(*p, {
                       key6(kTcp, kSegExternal, web, "2001:db8:1::5", "2001:db8::1", 1, 8080),
                       key6(kTcp, kSegExternal, web, "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8::1", 1, 8080),
                       key6(kTcp, kSegExternal, web, "2001:db8:2::5", "2001:db8::1", 1, 8080),
                       key6(kTcp, kSegExternal, web, "2001:db8:1::5", "2001:db8::1", 1, 8081),
                       // rules without prefixes apply to both families
                       key6(kTcp, web, db, "2001:db8::1", "2001:db8::2", 1, 5432),
                       key6(kTcp, web, db, "2001:db8::1", "2001:db8::2", 1, 22),
                       // an IPv4 prefix never matches an IPv6 key
                       key6(kTcp, kSegExternal, web, "::ffff:192.168.1.1", "2001:db8::1", 1, 443),
                   });
  CHECK(r == std::vector<std::string>{"v6-alt-http", "v6-alt-http", "default", "default", "web-to-db", "no-ssh-to-db",
                                      "default"});
  // ...and an IPv6 prefix never an IPv4 key.
  CHECK(classify(*p, {key4(kTcp, kSegExternal, web, "32.1.13.184", "10.0.0.1", 1, 8080)}) ==
        std::vector<std::string>{"default"});
}

TEST_CASE("CompiledPolicy: a policy without rules denies everything", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf("segments:\n  - {name: web, members: {vms: [web-1]}}\n", sw));
  CHECK(p->ruleCount() == 1);
  CHECK(classifyId(*p, key4(kTcp, 3, 3, "10.0.0.1", "10.0.0.2", 1, 80)) == 0);
  CHECK(classifyId(*p, key6(kTcp, 3, 3, "2001:db8::1", "2001:db8::2", 1, 80)) == 0);
  for (uint16_t a = 0; a < p->portCount(); ++a) CHECK(p->floodMask(a) == 0);

  // Only IPv4 rules: the IPv6 table is empty and classifies to the default.
  auto v4 = compile(sw, segmentsOf("rules:\n  - {from: 10.0.0.0/8, to: any, action: allow}\n", sw));
  CHECK(classifyId(*v4, key4(kTcp, kSegExternal, 3, "10.1.1.1", "10.0.0.1", 1, 80)) == 1);
  CHECK(classifyId(*v4, key6(kTcp, kSegExternal, 3, "2001:db8::1", "2001:db8::2", 1, 80)) == 0);
}

TEST_CASE("CompiledPolicy: floodMask follows what allow rules could admit", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  const SegmentsConfig segs = segmentsOf(kSegments, sw);
  auto bit = [](uint16_t port) { return 1u << port; };

  auto p = compile(sw, segs);
  // web1: db1 (web-to-db, dns), app1 (web-to-app, app-to-web), up0 (web-out, lan-https). Not web2:
  // no allow rule connects web to web. Never itself, never the unassigned port.
  CHECK(p->floodMask(kWeb1) == (bit(kDb1) | bit(kApp1) | bit(kUp0)));
  CHECK(p->floodMask(kWeb2) == (bit(kDb1) | bit(kApp1) | bit(kUp0)));
  // db1: everyone with a segment reaches it for DNS ("any" includes the uplink).
  CHECK(p->floodMask(kDb1) == (bit(kWeb1) | bit(kApp1) | bit(kUp0) | bit(kWeb2)));
  CHECK(p->floodMask(kApp1) == (bit(kWeb1) | bit(kDb1) | bit(kWeb2)));
  CHECK(p->floodMask(kUp0) == (bit(kWeb1) | bit(kDb1) | bit(kWeb2)));
  CHECK(p->floodMask(kSpare) == 0);
  for (uint16_t a = 0; a < p->portCount(); ++a) {
    CHECK((p->floodMask(a) & bit(kSpare)) == 0);
    CHECK((p->floodMask(a) & bit(a)) == 0);
  }

  // Quarantined web2 reaches only what its allowances could: the remediation host behind the uplink.
  auto q = compile(sw, segs, {"web2"});
  CHECK(q->floodMask(kWeb2) == bit(kUp0));
  CHECK((q->floodMask(kUp0) & bit(kWeb2)) != 0);
  CHECK((q->floodMask(kWeb1) & bit(kWeb2)) == 0);
  CHECK((q->floodMask(kDb1) & bit(kWeb2)) == 0);
}

TEST_CASE("CompiledPolicy: static MAC table and source address bindings", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw));
  CHECK(p->staticPortForMac(0x020000000001ull) == kWeb1);
  CHECK(p->staticPortForMac(0x020000000002ull) == kDb1);
  CHECK(p->staticPortForMac(0x020000000006ull) == kWeb2);
  CHECK(p->staticPortForMac(0x020000000003ull) == -1);
  CHECK(p->staticPortForMac(0) == -1);  // "unbound" is not a MAC

  auto allowed = [&](uint16_t port, const char* text) {
    auto ip = IpAddr::parse(text);
    REQUIRE(ip.has_value());
    return p->sourceIpAllowed(port, ip->family, ip->bytes.data());
  };
  CHECK(allowed(kWeb1, "10.0.0.1"));
  CHECK_FALSE(allowed(kWeb1, "10.0.0.2"));
  CHECK_FALSE(allowed(kWeb1, "10.0.1.1"));
  CHECK(allowed(kWeb1, "2001:db8::1"));
  CHECK_FALSE(allowed(kWeb1, "2001:db8::2"));
  // The EUI-64 link-local address of the bound MAC 02:00:00:00:00:01 (U/L bit flipped) and "::"
  // (duplicate address detection).
  CHECK(allowed(kWeb1, "fe80::ff:fe00:1"));
  CHECK(allowed(kWeb1, "::"));
  CHECK_FALSE(allowed(kWeb1, "fe80::200:ff:fe00:1"));  // U/L bit not flipped
  CHECK_FALSE(allowed(kWeb1, "fe80::ff:fe00:2"));      // db1's
  CHECK_FALSE(allowed(kWeb1, "fe80::1"));
  // A port binding only IPv4 addresses still owns its link-local address.
  CHECK(allowed(kDb1, "10.0.1.1"));
  CHECK(allowed(kDb1, "fe80::ff:fe00:2"));
  CHECK_FALSE(allowed(kDb1, "2001:db8::1"));
  // No bound addresses: no address at all; only address acquisition, from the unspecified
  // address or (IPv6) a link-local one.
  CHECK_FALSE(allowed(kApp1, "203.0.113.7"));
  CHECK_FALSE(allowed(kApp1, "2001:db8::99"));
  CHECK_FALSE(allowed(kApp1, "0.0.0.0"));  // not acquisition traffic
  auto acquiring = [&](uint16_t port, const char* text) {
    auto ip = IpAddr::parse(text);
    REQUIRE(ip.has_value());
    return p->sourceIpAllowed(port, ip->family, ip->bytes.data(), true);
  };
  CHECK(acquiring(kApp1, "0.0.0.0"));
  CHECK(acquiring(kApp1, "::"));
  CHECK(acquiring(kApp1, "fe80::1234"));
  CHECK_FALSE(acquiring(kApp1, "10.0.0.1"));  // web1's
  CHECK_FALSE(acquiring(kApp1, "2001:db8::99"));
  CHECK_FALSE(acquiring(kWeb1, "10.0.0.2"));  // a bound port: its binding, acquisition or not
  // Uplinks carry any address...
  CHECK(allowed(kUp0, "8.8.8.8"));
  // ... but never one bound to a VM here (nor its link-local one); "::" is no one's.
  auto vmAddr = [&](const CompiledPolicy& c, const char* text) {
    auto ip = IpAddr::parse(text);
    REQUIRE(ip.has_value());
    return c.boundToVm(ip->family, ip->bytes.data());
  };
  CHECK(vmAddr(*p, "10.0.0.1"));
  CHECK(vmAddr(*p, "10.0.1.1"));
  CHECK(vmAddr(*p, "2001:db8::1"));
  CHECK(vmAddr(*p, "fe80::ff:fe00:1"));
  CHECK_FALSE(vmAddr(*p, "::"));
  CHECK_FALSE(vmAddr(*p, "8.8.8.8"));
  CHECK_FALSE(vmAddr(*p, "10.0.0.3"));

  // A bound MAC without bound addresses has no address either.
  const SwitchConfig macOnly = switchOf("ports:\n  - {name: vm1, devargs: a, mac: \"02:00:00:00:00:07\"}\n");
  auto m = compile(macOnly, segmentsOf("", macOnly));
  auto ip = IpAddr::parse("2001:db8::7");
  CHECK_FALSE(m->sourceIpAllowed(0, 6, ip->bytes.data()));
  CHECK(m->staticPortForMac(0x020000000007ull) == 0);
}

TEST_CASE("CompiledPolicy: hit counters sum over workers", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  auto p = compile(sw, segmentsOf(kSegments, sw), {}, 3);
  for (uint32_t id = 0; id < p->ruleCount(); ++id) CHECK(p->hits(id) == 0);
  for (int i = 0; i < 3; ++i) p->countHit(0, 2);
  for (int i = 0; i < 2; ++i) p->countHit(2, 2);
  p->countHit(1, 0);
  p->countHit(2, p->ruleCount() - 1);
  CHECK(p->hits(2) == 5);
  CHECK(p->hits(0) == 1);
  CHECK(p->hits(p->ruleCount() - 1) == 1);
  CHECK(p->hits(1) == 0);
  CHECK(p->hits(3) == 0);
}

TEST_CASE("CompiledPolicy: generations and independent compiles", "[policy]") {
  const SwitchConfig sw = switchOf(kSwitch);
  const SegmentsConfig segs = segmentsOf(kSegments, sw);
  auto a = CompiledPolicy::compile(sw, segs, {}, freshGeneration(), 1);
  auto b = CompiledPolicy::compile(sw, segs, {"web1"}, freshGeneration(), 1);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK((*b)->generation() == (*a)->generation() + 1);
  // Two live policies (old and new during a reload) classify independently.
  const uint16_t web = (*a)->portSegment(kWeb1), db = (*a)->portSegment(kDb1);
  CHECK(classifyId(**a, key4(kTcp, web, db, "10.0.0.1", "10.0.1.1", 1, 5432)) == 2);
  CHECK((*b)->portSegment(kWeb1) == kSegQuarantine);
  CHECK(classifyId(**b, key4(kTcp, kSegQuarantine, db, "10.0.0.1", "10.0.1.1", 1, 5432)) == 0);
  CHECK(classifyId(**a, key4(kTcp, web, db, "10.0.0.1", "10.0.1.1", 1, 5432)) == 2);
}

TEST_CASE("CompiledPolicy: compiles of the same generation do not share ACL contexts", "[policy]") {
  // rte_acl_create hands back an existing context of the same name; a compile must never reuse
  // (or, failing, free) the tables of a policy that is still alive.
  const SwitchConfig sw = switchOf(kSwitch);
  const SegmentsConfig http =
      segmentsOf("rules:\n  - {name: http, from: any, to: any, proto: tcp, ports: 80, action: allow}\n", sw);
  const SegmentsConfig https =
      segmentsOf("rules:\n  - {name: https, from: any, to: any, proto: tcp, ports: 443, action: allow}\n", sw);
  const uint64_t gen = freshGeneration();
  auto a = CompiledPolicy::compile(sw, http, {}, gen, 1);
  REQUIRE(a.has_value());
  auto b = CompiledPolicy::compile(sw, https, {}, gen, 1);
  INFO((b.has_value() ? std::string() : b.error().message));
  REQUIRE(b.has_value());
  const AclKey4 k80 = key4(kTcp, kSegExternal, kSegExternal, "10.0.0.1", "10.0.0.2", 1, 80);
  const AclKey4 k443 = key4(kTcp, kSegExternal, kSegExternal, "10.0.0.1", "10.0.0.2", 1, 443);
  CHECK(classifyId(**a, k80) == 1);
  CHECK(classifyId(**a, k443) == 0);
  CHECK(classifyId(**b, k80) == 0);
  CHECK(classifyId(**b, k443) == 1);
  a = makeError(Error::Code::kInternal, "dropped");  // free the first policy: the second one is unaffected
  CHECK(classifyId(**b, k443) == 1);
  CHECK(classifyId(**b, k80) == 0);
}

TEST_CASE("CompiledPolicy: 23,000 rules compile and classify", "[policy][large]") {
  const SwitchConfig sw = switchOf(kSwitch);
  // 20,700 CIDR rules (one /24 each, alternating allow/deny) and 2,300 segment rules (one UDP
  // port each) toward db.
  constexpr uint32_t kRules = 23000;
  std::string yaml =
      "segments:\n  - {name: web, members: {vms: [web-1]}}\n  - {name: db, members: {ports: [db1]}}\nrules:\n";
  auto cidrOf = [](uint32_t i) { return "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24"; };
  auto portOf = [](uint32_t i) { return static_cast<uint16_t>(1024 + i % 4000); };
  auto denies = [](uint32_t i) { return i % 7 == 0; };
  for (uint32_t i = 0; i < kRules; ++i) {
    if (i % 10 == 0) {
      yaml += "  - {name: seg" + std::to_string(i) +
              ", from: web, to: db, proto: udp, ports: " + std::to_string(20000 + i / 10) + ", action: allow}\n";
    } else {
      yaml += "  - {name: net" + std::to_string(i) + ", from: " + cidrOf(i) +
              ", to: db, proto: tcp, ports: " + std::to_string(portOf(i)) +
              ", action: " + (denies(i) ? "deny" : "allow") + "}\n";
    }
  }
  const SegmentsConfig segs = segmentsOf(yaml, sw);
  REQUIRE(segs.rules.size() == kRules);
  auto p = compile(sw, segs);
  REQUIRE(p->ruleCount() == kRules + 1);
  const uint16_t web = p->portSegment(kWeb1), db = p->portSegment(kDb1);

  for (uint32_t i : {1u, 7u, 255u, 257u, 4099u, 12345u, 20001u, 22999u}) {
    INFO("rule index " << i);
    REQUIRE(i % 10 != 0);
    std::string src = cidrOf(i);
    src = src.substr(0, src.size() - 4) + "77";  // a host inside the /24
    CHECK(classifyId(*p, key4(kTcp, kSegExternal, db, src.c_str(), "10.200.0.1", 999, portOf(i))) == i + 1);
    CHECK(classifyId(*p, key4(kTcp, web, db, src.c_str(), "10.200.0.1", 999, portOf(i))) == i + 1);
    CHECK(p->ruleAllows(i + 1) == !denies(i));
    CHECK(p->rule(i + 1).name == "net" + std::to_string(i));
    // Another port, another destination segment, or another protocol: no rule.
    CHECK(classifyId(*p, key4(kTcp, kSegExternal, db, src.c_str(), "10.200.0.1", 999, portOf(i) + 4000)) == 0);
    CHECK(classifyId(*p, key4(kTcp, kSegExternal, web, src.c_str(), "10.200.0.1", 999, portOf(i))) == 0);
    CHECK(classifyId(*p, key4(kUdp, kSegExternal, db, src.c_str(), "10.200.0.1", 999, portOf(i))) == 0);
  }
  for (uint32_t i : {0u, 10u, 11110u, 22990u}) {
    INFO("rule index " << i);
    const auto port = static_cast<uint16_t>(20000 + i / 10);
    CHECK(classifyId(*p, key4(kUdp, web, db, "10.0.0.1", "10.0.1.1", 1, port)) == i + 1);
    CHECK(classifyId(*p, key6(kUdp, web, db, "2001:db8::1", "2001:db8::2", 1, port)) == i + 1);
    CHECK(classifyId(*p, key4(kUdp, db, web, "10.0.1.1", "10.0.0.1", 1, port)) == 0);
  }
  // Outside every prefix: default deny.
  CHECK(classifyId(*p, key4(kTcp, kSegExternal, db, "11.0.0.1", "10.200.0.1", 999, 1025)) == 0);
}

// Contract tests of parseDomainXml (hostmon/src/domain_xml.cc): what it reads from good domain
// XML, and a table of hostile or broken documents that must give a clean error.
#include <catch2/catch.hpp>

#include <string>

#include "domain_xml.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using Catch::Matchers::Contains;

namespace {

const char* kWeb = R"(<domain type='kvm' id='3'>
  <name>web-1</name>
  <uuid>8F3C2A10-1111-4222-8333-944455556666</uuid>
  <metadata>
    <other:thing xmlns:other="https://example.com/other"><other:app>wrong</other:app></other:thing>
    <gg:vm xmlns:gg="https://goldgate.dev/xmlns/vm/1">
      <gg:app>web</gg:app>
      <gg:segment> frontend </gg:segment>
      <gg:manifest>web-v3</gg:manifest>
      <gg:label key="owner">team-a</gg:label>
      <gg:label key="tier">1</gg:label>
      <gg:future>ignored</gg:future>
    </gg:vm>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/web-1.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
    </disk>
    <interface type='vhostuser'>
      <mac address='52:54:00:AB:CD:01'/>
      <source type='unix' path='/run/goldgate/vm-web.sock' mode='server'/>
      <model type='virtio'/>
      <alias name='net0'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:ab:cd:02'/>
      <source bridge='br0'/>
      <target dev='vnet3'/>
      <model type='e1000'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:ab:cd:03'/>
      <source network='default'/>
    </interface>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/web-1.org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>
</domain>)";

}  // namespace

TEST_CASE("parseDomainXml reads identity, NICs, devices and Goldgate labels", "[hostmon][domain_xml]") {
  auto r = parseDomainXml(kWeb);
  REQUIRE(r.has_value());
  const DomainInfo& d = *r;
  CHECK(d.name == "web-1");
  CHECK(d.uuid == "8f3c2a10-1111-4222-8333-944455556666");  // canonical lower case

  REQUIRE(d.nics.size() == 3);
  CHECK(d.nics[0].type == "vhostuser");
  CHECK(d.nics[0].mac == "52:54:00:ab:cd:01");
  CHECK(d.nics[0].source_type == "unix");
  CHECK(d.nics[0].source == "/run/goldgate/vm-web.sock");
  CHECK(d.nics[0].source_mode == "server");
  CHECK(d.nics[0].model == "virtio");
  CHECK(d.nics[0].alias == "net0");
  CHECK(d.nics[1].type == "bridge");
  CHECK(d.nics[1].source == "br0");
  CHECK(d.nics[1].target_dev == "vnet3");
  CHECK(d.nics[2].source_type == "network");
  CHECK(d.nics[2].source == "default");

  REQUIRE(d.devices.size() == 2);  // <emulator> is not a device
  CHECK(d.devices[0].kind == "disk");
  CHECK(d.devices[0].target == "vda");
  CHECK(d.devices[0].source == "/var/lib/libvirt/images/web-1.qcow2");
  CHECK(d.devices[1].kind == "channel");
  CHECK(d.devices[1].target == "org.qemu.guest_agent.0");
  CHECK(d.has_agent_channel);

  CHECK(d.has_labels);
  CHECK(d.labels.app == "web");  // not the other namespace's <app>
  CHECK(d.labels.segment == "frontend");
  CHECK(d.labels.manifest == "web-v3");
  CHECK(d.labels.extra.size() == 2);
  CHECK(d.labels.extra.at("owner") == "team-a");
  CHECK(d.labels.extra.at("tier") == "1");
}

TEST_CASE("parseDomainXml: a domain without metadata or devices", "[hostmon][domain_xml]") {
  auto r =
      parseDomainXml("<domain type='test'><name>bare</name><uuid>0123456789abcdef0123456789ABCDEF</uuid></domain>");
  REQUIRE(r.has_value());
  CHECK(r->uuid == "01234567-89ab-cdef-0123-456789abcdef");
  CHECK_FALSE(r->has_labels);
  CHECK(r->labels.app.empty());
  CHECK(r->nics.empty());
  CHECK_FALSE(r->has_agent_channel);
}

TEST_CASE("parseDomainXml: the Goldgate element must be in Goldgate's namespace", "[hostmon][domain_xml]") {
  auto r = parseDomainXml(R"(<domain><name>n</name><uuid>01234567-89ab-cdef-0123-456789abcdef</uuid>
    <metadata><vm><app>web</app></vm><gg:vm xmlns:gg="https://goldgate.dev/xmlns/vm/2"><gg:app>x</gg:app></gg:vm></metadata></domain>)");
  REQUIRE(r.has_value());
  CHECK_FALSE(r->has_labels);
  CHECK(r->labels.app.empty());
}

TEST_CASE("parseDomainXml refuses hostile and broken documents cleanly", "[hostmon][domain_xml]") {
  struct Case {
    const char* what;
    std::string xml;
    const char* error;
  };
  const std::string id = "<name>n</name><uuid>01234567-89ab-cdef-0123-456789abcdef</uuid>";
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "<a>";
  const Case cases[] = {
      {"empty", "", "domain XML: line"},
      {"not XML", "hello", "domain XML: line 1"},
      {"truncated", "<domain><name>n</name>", "domain XML: line"},
      {"wrong root", "<network>" + id + "</network>", "root element is not <domain>"},
      {"namespaced root", "<x:domain xmlns:x='urn:x'>" + id + "</x:domain>", "root element is not <domain>"},
      {"no name", "<domain><uuid>01234567-89ab-cdef-0123-456789abcdef</uuid></domain>", "no <name>"},
      {"empty name", "<domain><name> </name><uuid>01234567-89ab-cdef-0123-456789abcdef</uuid></domain>", "no <name>"},
      {"no uuid", "<domain><name>n</name></domain>", "no <uuid>"},
      {"bad uuid", "<domain><name>n</name><uuid>not-a-uuid</uuid></domain>", "is not a UUID"},
      {"short uuid", "<domain><name>n</name><uuid>0123</uuid></domain>", "is not a UUID"},
      {"bad MAC",
       "<domain>" + id +
           "<devices><interface type='network'><mac address='52:54:00:zz:00:01'/></interface></devices></domain>",
       "is not xx:xx:xx:xx:xx:xx"},
      {"address with a bad MAC",
       "<domain>" + id +
           "<metadata><gg:vm xmlns:gg='https://goldgate.dev/xmlns/vm/1'><gg:address "
           "mac='52:54'>10.0.0.1</gg:address></gg:vm></metadata></domain>",
       "line 1: Goldgate <address> needs mac="},
      {"address without a MAC",
       "<domain>" + id +
           "<metadata><gg:vm "
           "xmlns:gg='https://goldgate.dev/xmlns/vm/1'><gg:address>10.0.0.1</gg:address></gg:vm></metadata></domain>",
       "Goldgate <address> needs mac="},
      {"address that is no address",
       "<domain>" + id +
           "<metadata><gg:vm xmlns:gg='https://goldgate.dev/xmlns/vm/1'>\n<gg:address "
           "mac='52:54:00:00:00:01'>10.0.0.300</gg:address></gg:vm></metadata></domain>",
       "line 2: Goldgate <address> '10.0.0.300' is not an IPv4 or IPv6 address"},
      {"address with a prefix length",
       "<domain>" + id +
           "<metadata><gg:vm xmlns:gg='https://goldgate.dev/xmlns/vm/1'><gg:address "
           "mac='52:54:00:00:00:01'>10.0.0.1/24</gg:address></gg:vm></metadata></domain>",
       "(no prefix length)"},
      {"label without key",
       "<domain>" + id +
           "<metadata><gg:vm "
           "xmlns:gg='https://goldgate.dev/xmlns/vm/1'><gg:label>v</gg:label></gg:vm></metadata></domain>",
       "label> without a key"},
      {"billion laughs",
       "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
       "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]>"
       "<domain><name>&d;</name><uuid>01234567-89ab-cdef-0123-456789abcdef</uuid></domain>",
       "domain XML: "},  // libxml2's amplification guard or the DOCTYPE refusal, whichever comes first
      {"external entity (file)",
       "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><domain><name>&x;</name>"
       "<uuid>01234567-89ab-cdef-0123-456789abcdef</uuid></domain>",
       "document type declaration"},
      {"external DTD over the network",
       "<!DOCTYPE domain SYSTEM 'http://127.0.0.1:1/evil.dtd'><domain>" + id + "</domain>",
       "document type declaration"},
      {"undeclared entity", "<domain><name>&x;</name><uuid>01234567-89ab-cdef-0123-456789abcdef</uuid></domain>",
       "domain XML: line 1"},
      {"nesting deeper than the parser's limit", "<domain>" + id + deep, "domain XML: line"},
      {"over 8 MiB", "<domain>" + id + "<description>" + std::string(9u << 20, 'x') + "</description></domain>",
       "exceeds the limit"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = parseDomainXml(c.xml);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Error::Code::kParse);
    CHECK_THAT(r.error().message, Contains(c.error));
  }
}

TEST_CASE("parseDomainXml does not read entity content into values", "[hostmon][domain_xml]") {
  // A document with an internal subset is refused outright, so a declared entity can never leak
  // into a name, label or path, expanded or not.
  auto r = parseDomainXml(
      "<!DOCTYPE domain [<!ENTITY s 'web'>]><domain><name>n</name>"
      "<uuid>01234567-89ab-cdef-0123-456789abcdef</uuid><metadata>"
      "<gg:vm xmlns:gg='https://goldgate.dev/xmlns/vm/1'><gg:app>&s;</gg:app></gg:vm></metadata></domain>");
  REQUIRE_FALSE(r.has_value());
  // Without a DOCTYPE, a character reference is plain text and fine.
  auto ok = parseDomainXml("<domain><name>a&amp;b</name><uuid>01234567-89ab-cdef-0123-456789abcdef</uuid></domain>");
  REQUIRE(ok.has_value());
  CHECK(ok->name == "a&b");
}

TEST_CASE("domain XML: the guest agent channel's state in a running domain", "[hostmon][domain_xml]") {
  auto info =
      parseDomainXml(R"(<domain type='qemu'><name>a</name><uuid>0b0c0d0e-1111-4222-8333-944455556666</uuid><devices>
    <channel type='unix'><source mode='bind' path='/run/a.sock'/><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
  </devices></domain>)");
  REQUIRE(info);
  CHECK(info->has_agent_channel);
  CHECK(info->agent_state == "connected");
}

TEST_CASE("domain XML: the addresses the host binds to each vhost-user NIC", "[hostmon][domain_xml]") {
  std::string xml = kWeb;
  const std::string md = "<gg:label key=\"tier\">1</gg:label>";
  xml.replace(xml.find(md), md.size(),
              md + "<gg:address mac=\"52:54:00:AB:CD:01\">10.0.0.1</gg:address>"
                   "<gg:address mac=\"52:54:00:ab:cd:01\"> fd00::1 </gg:address>"
                   "<gg:address mac=\"52:54:00:ab:cd:01\">10.0.0.1</gg:address>"    // the same again: once
                   "<gg:address mac=\"52:54:00:ab:cd:02\">10.0.1.1</gg:address>");  // a bridge NIC: not the switch's
  auto r = parseDomainXml(xml);
  REQUIRE(r.has_value());
  CHECK(r->labels.addresses.at("52:54:00:ab:cd:01") == std::vector<std::string>{"10.0.0.1", "fd00::1"});
  auto bound = boundAddresses(*r);
  REQUIRE(bound.size() == 1);  // only the vhost-user NIC
  CHECK(bound.at("52:54:00:ab:cd:01") == std::vector<std::string>{"10.0.0.1", "fd00::1"});
  // A vhost-user NIC the metadata binds nothing to has no address.
  auto plain = parseDomainXml(kWeb);
  REQUIRE(plain.has_value());
  CHECK(boundAddresses(*plain) == std::map<std::string, std::vector<std::string>>{{"52:54:00:ab:cd:01", {}}});
}

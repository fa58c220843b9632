#include "goldgate/dataplane/config.h"

#include <yaml-cpp/yaml.h>

#include "goldgate/common/listen_address.h"
#include "goldgate/common/yaml_ctx.h"

#include "goldgate/alerts/format.h"
#include "goldgate/alerts/sink_config.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace goldgate::dataplane {
namespace {

namespace fs = std::filesystem;

using yamlcfg::ConfigError;
using yamlcfg::Ctx;
using yamlcfg::loadYaml;

SourceLoc locOf(const Ctx& c, const YAML::Node& n) { return SourceLoc{c.file(), Ctx::lineOf(n)}; }

// An inspection limit: on (the whole flow), off, or a number of bytes per direction.
int64_t inspectLimit(const Ctx& c, const YAML::Node& n, const char* what) {
  if (!n.IsScalar()) c.fail(n, std::string(what) + ": expected on, off or a number of bytes");
  const std::string& v = n.Scalar();
  if (v == "on" || v == "true" || v == "yes") return 0;
  if (v == "off" || v == "false" || v == "no") return -1;
  return static_cast<int64_t>(c.uint(n, what, 1, uint64_t{1} << 40));
}

std::vector<ZoneConfig> parseZones(const Ctx& c, const YAML::Node& list) {
  if (!list.IsSequence()) c.fail(list, "zones: expected a list of zones");
  std::vector<ZoneConfig> out;
  std::set<std::string> names;
  for (const auto& n : list) {
    c.onlyKeys(n, {"name", "cidrs", "trusted"});
    ZoneConfig z;
    z.loc = locOf(c, n);
    if (!n["name"]) c.fail(n, "zone: missing 'name'");
    z.name = c.str(n["name"], "zone name");
    if (z.name.empty() || z.name == "any" || z.name == "trusted" || z.name == "untrusted" ||
        z.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
            std::string::npos)
      c.fail(n["name"], "zone name '" + z.name +
                            "': use letters, digits, '-', '_', '.' ('any', 'trusted' and 'untrusted' are reserved)");
    if (!names.insert(z.name).second) c.fail(n["name"], "duplicate zone '" + z.name + "'");
    if (!n["cidrs"]) c.fail(n, "zone '" + z.name + "': missing 'cidrs'");
    for (const auto& t : c.strList(n["cidrs"], "cidrs")) {
      auto cidr = Cidr::parse(t);
      if (!cidr) c.fail(n["cidrs"], "zone '" + z.name + "': '" + t + "' is not an address prefix");
      z.cidrs.push_back(*cidr);
    }
    if (n["trusted"]) z.trusted = c.boolean(n["trusted"], "trusted");
    out.push_back(std::move(z));
  }
  return out;
}

DecodeConfig parseDecode(const Ctx& c, const YAML::Node& n) {
  DecodeConfig d;
  if (n.IsScalar()) {  // decode: on | off
    d.enabled = c.boolean(n, "inspection.decode");
    return d;
  }
  c.onlyKeys(n, {"enabled", "depth", "max_decoded_mb", "max_ratio", "memory_kb", "memory_total_mb"});
  if (n["enabled"]) d.enabled = c.boolean(n["enabled"], "inspection.decode.enabled");
  if (n["depth"]) d.depth = static_cast<uint32_t>(c.uint(n["depth"], "inspection.decode.depth", 1, 32));
  if (n["max_decoded_mb"])
    d.max_output = c.uint(n["max_decoded_mb"], "inspection.decode.max_decoded_mb", 1, 1u << 20) << 20;
  if (n["max_ratio"])
    d.max_ratio = static_cast<uint32_t>(c.uint(n["max_ratio"], "inspection.decode.max_ratio", 2, 1u << 20));
  if (n["memory_kb"])
    d.memory = static_cast<uint32_t>(c.uint(n["memory_kb"], "inspection.decode.memory_kb", 16, 1u << 20) << 10);
  if (n["memory_total_mb"])
    d.memory_total = c.uint(n["memory_total_mb"], "inspection.decode.memory_total_mb", 1, 1u << 20) << 20;
  return d;
}

std::vector<UnreadableRule> parseUnreadable(const Ctx& c, const YAML::Node& list) {
  if (!list.IsSequence()) c.fail(list, "inspection.unreadable: expected a list of rules");
  std::vector<UnreadableRule> out;
  for (const auto& n : list) {
    c.onlyKeys(n, {"from", "to", "content", "server_names", "action"});
    UnreadableRule r;
    r.line = Ctx::lineOf(n);
    if (n["from"]) r.from = c.str(n["from"], "inspection.unreadable.from");
    if (n["to"]) r.to = c.str(n["to"], "inspection.unreadable.to");
    if (!n["content"])
      c.fail(n, "inspection.unreadable: missing 'content' (tls, ssh, encrypted, decode-failed, over-budget or any)");
    for (const auto& v : n["content"].IsScalar() ? std::vector<std::string>{c.str(n["content"], "content")}
                                                 : c.strList(n["content"], "content")) {
      if (v == "any") {
        r.content = (1u << kUnreadableCount) - 1;
        continue;
      }
      int found = -1;
      for (int i = 0; i < kUnreadableCount; ++i)
        if (v == unreadableCategoryName(static_cast<Unreadable>(i))) found = i;
      if (found < 0)
        c.fail(n["content"], "inspection.unreadable: content '" + v +
                                 "' is not one of tls, ssh, encrypted, decode-failed, over-budget, any");
      r.content |= static_cast<uint8_t>(1u << found);
    }
    if (n["server_names"]) {
      r.server_names = c.strList(n["server_names"], "server_names");
      if (r.content != (1u << static_cast<int>(Unreadable::kTls)))
        c.fail(n["server_names"], "inspection.unreadable: server_names applies to content: tls only");
    }
    if (!n["action"]) c.fail(n, "inspection.unreadable: missing 'action' (allow, alert or block)");
    const std::string a = c.str(n["action"], "action");
    if (a == "allow") r.action = UnreadableRule::Action::kAllow;
    else if (a == "alert") r.action = UnreadableRule::Action::kAlert;
    else if (a == "block") r.action = UnreadableRule::Action::kBlock;
    else c.fail(n["action"], "inspection.unreadable: action '" + a + "' is not allow, alert or block");
    out.push_back(std::move(r));
  }
  return out;
}

InspectionConfig parseInspection(const Ctx& c, const YAML::Node& n) {
  c.onlyKeys(n, {"classes", "cache", "default", "segments", "ports", "max_flows", "hold_kb", "hold_total_mb", "decode",
                 "unreadable"});
  InspectionConfig in;
  if (!n["classes"]) c.fail(n, "inspection: missing 'classes' (the folder of data class files)");
  in.enabled = true;
  in.classes_dir = c.str(n["classes"], "inspection.classes");
  if (!in.classes_dir.empty() && in.classes_dir[0] != '/')
    in.classes_dir = (fs::path(c.file()).parent_path() / in.classes_dir).string();
  if (n["cache"]) in.cache_dir = c.str(n["cache"], "inspection.cache");
  if (n["default"]) in.default_limit = inspectLimit(c, n["default"], "inspection.default");
  auto limits = [&](const YAML::Node& m, const char* what, std::map<std::string, int64_t>& into,
                    std::map<std::string, int>* lines) {
    if (!m.IsMap()) c.fail(m, std::string(what) + ": expected a mapping of name: on | off | bytes");
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string name = c.str(it->first, what);
      into[name] = inspectLimit(c, it->second, what);
      if (lines) (*lines)[name] = Ctx::lineOf(it->first);
    }
  };
  if (n["segments"]) limits(n["segments"], "inspection.segments", in.segments, &in.segment_lines);
  if (n["ports"]) limits(n["ports"], "inspection.ports", in.ports, nullptr);
  if (n["max_flows"]) in.max_flows = static_cast<uint32_t>(c.uint(n["max_flows"], "inspection.max_flows", 1, 1u << 24));
  if (n["hold_kb"]) in.hold_bytes = static_cast<uint32_t>(c.uint(n["hold_kb"], "inspection.hold_kb", 1, 65536) << 10);
  if (n["hold_total_mb"])
    in.hold_total_bytes = c.uint(n["hold_total_mb"], "inspection.hold_total_mb", 1, 1u << 16) << 20;
  if (n["decode"]) in.decode = parseDecode(c, n["decode"]);
  if (n["unreadable"]) in.unreadable = parseUnreadable(c, n["unreadable"]);
  return in;
}

Timeouts parseTimeouts(const Ctx& c, const YAML::Node& n) {
  c.onlyKeys(n, {"tcp_syn", "tcp_established", "tcp_closing", "tcp_closed", "udp_single", "udp_both", "icmp", "other"});
  Timeouts t;
  auto get = [&](const char* key, uint32_t& field) {
    if (n[key]) field = static_cast<uint32_t>(c.uint(n[key], key, 1, 7 * 24 * 3600));
  };
  get("tcp_syn", t.tcp_syn);
  get("tcp_established", t.tcp_established);
  get("tcp_closing", t.tcp_closing);
  get("tcp_closed", t.tcp_closed);
  get("udp_single", t.udp_single);
  get("udp_both", t.udp_both);
  get("icmp", t.icmp);
  get("other", t.other);
  return t;
}

IfAddr parseIfAddr(const Ctx& c, const YAML::Node& n, const char* what, uint8_t family) {
  std::string t = c.str(n, what);
  auto slash = t.find('/');
  auto ip = IpAddr::parse(t.substr(0, slash));
  if (!ip || ip->family != family || slash == std::string::npos)
    c.fail(n, std::string(what) + ": expected an IPv" + std::to_string(family) +
                  " address with its prefix length, got '" + t + "'");
  IfAddr a;
  a.addr = *ip;
  uint64_t len = 0;
  auto lenText = t.substr(slash + 1);
  auto [q, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), len);
  if (ec != std::errc() || q != lenText.data() + lenText.size() || len == 0 || len > (family == 4 ? 32u : 128u))
    c.fail(n, std::string(what) + ": bad prefix length in '" + t + "'");
  a.length = static_cast<uint8_t>(len);
  return a;
}

IpAddr parseHostIp(const Ctx& c, const YAML::Node& n, const char* what, uint8_t family) {
  std::string t = c.str(n, what);
  auto ip = IpAddr::parse(t);
  if (!ip || (family && ip->family != family))
    c.fail(n, std::string(what) + ": '" + t + "' is not an IPv" +
                  (family ? std::to_string(family) : std::string("4 or IPv6")) + " address");
  return *ip;
}

TunnelConfig parseTunnel(const Ctx& c, const YAML::Node& n, const std::vector<ZoneConfig>& zones) {
  c.onlyKeys(n, {"uplink", "underlay", "router", "aead", "keys", "sequence_file", "tls", "peer_down", "peers"});
  auto rel = [&](const std::string& f) {
    return f.empty() || f[0] == '/' ? f : (fs::path(c.file()).parent_path() / f).string();
  };
  TunnelConfig t;
  t.enabled = true;
  t.loc = locOf(c, n);
  if (n["uplink"]) t.uplink = c.str(n["uplink"], "tunnel.uplink");
  if (!n["underlay"]) c.fail(n, "tunnel: missing 'underlay' (the uplink's own addresses)");
  const auto& u = n["underlay"];
  c.onlyKeys(u, {"ipv4", "ipv6", "gateway4", "gateway6", "mac", "mtu"});
  if (u["ipv4"]) t.ipv4 = parseIfAddr(c, u["ipv4"], "tunnel.underlay.ipv4", 4);
  if (u["ipv6"]) t.ipv6 = parseIfAddr(c, u["ipv6"], "tunnel.underlay.ipv6", 6);
  if (!t.ipv4 && !t.ipv6) c.fail(u, "tunnel.underlay: give ipv4, ipv6 or both");
  if (u["gateway4"]) t.gateway4 = parseHostIp(c, u["gateway4"], "tunnel.underlay.gateway4", 4);
  if (u["gateway6"]) t.gateway6 = parseHostIp(c, u["gateway6"], "tunnel.underlay.gateway6", 6);
  if (u["mac"]) {
    auto m = MacAddr::parse(c.str(u["mac"], "tunnel.underlay.mac"));
    if (!m || m->isMulticast()) c.fail(u["mac"], "tunnel.underlay.mac: not a unicast Ethernet address");
    t.underlay_mac = *m;
  }
  // At least 1,356: an IPv6 packet of the minimum MTU (1,280) must fit once sealed into an IPv6
  // outer header (40 + ESP 16 + ICV 16 + trailer 2, rounded up to 4).
  if (u["mtu"]) t.mtu = static_cast<uint32_t>(c.uint(u["mtu"], "tunnel.underlay.mtu", 1356, 9000));
  if (!n["router"]) c.fail(n, "tunnel: missing 'router' (the gateway address VMs use for zones behind peers)");
  const auto& r = n["router"];
  c.onlyKeys(r, {"mac", "ipv4", "ipv6"});
  if (!r["mac"]) c.fail(r, "tunnel.router: missing 'mac'");
  auto rm = MacAddr::parse(c.str(r["mac"], "tunnel.router.mac"));
  if (!rm || rm->isMulticast()) c.fail(r["mac"], "tunnel.router.mac: not a unicast Ethernet address");
  t.router_mac = *rm;
  if (r["ipv4"]) t.router_ipv4 = parseHostIp(c, r["ipv4"], "tunnel.router.ipv4", 4);
  if (r["ipv6"]) t.router_ipv6 = parseHostIp(c, r["ipv6"], "tunnel.router.ipv6", 6);
  if (n["aead"]) {
    t.aead = c.str(n["aead"], "tunnel.aead");
    if (t.aead != "auto" && t.aead != "ipsec-mb" && t.aead != "openssl")
      c.fail(n["aead"], "tunnel.aead: expected auto, ipsec-mb or openssl, got '" + t.aead + "'");
  }
  if (n["keys"]) t.key_file = rel(c.str(n["keys"], "tunnel.keys"));
  if (n["sequence_file"]) t.sequence_file = rel(c.str(n["sequence_file"], "tunnel.sequence_file"));
  if (n["peer_down"]) {
    // What happens to packets toward a peer without keys: block (default), or wait up to wait_ms.
    const auto& pd = n["peer_down"];
    if (pd.IsScalar()) {
      std::string v = pd.Scalar();
      if (v == "block") t.wait_for_keys = false;
      else if (v == "wait") t.wait_for_keys = true;
      else c.fail(pd, "tunnel.peer_down: expected block, wait or {wait_ms: N}, got '" + v + "'");
    } else {
      c.onlyKeys(pd, {"wait_ms"});
      t.wait_for_keys = true;
      if (pd["wait_ms"]) t.wait_ms = static_cast<uint32_t>(c.uint(pd["wait_ms"], "tunnel.peer_down.wait_ms", 1, 60000));
    }
  }
  if (n["tls"]) {
    const auto& tl = n["tls"];
    c.onlyKeys(tl, {"listen", "cert", "key", "ca", "lifetime_s", "lifetime_packets", "grace_s"});
    for (const char* k : {"listen", "cert", "key"})
      if (!tl[k]) c.fail(tl, std::string("tunnel.tls: missing '") + k + "'");
    t.tls.enabled = true;
    t.tls.listen = c.str(tl["listen"], "tunnel.tls.listen");
    if (t.tls.listen.rfind(':') == std::string::npos) c.fail(tl["listen"], "tunnel.tls.listen: expected address:port");
    t.tls.cert = rel(c.str(tl["cert"], "tunnel.tls.cert"));
    t.tls.key = rel(c.str(tl["key"], "tunnel.tls.key"));
    if (tl["ca"]) t.tls.ca = rel(c.str(tl["ca"], "tunnel.tls.ca"));
    if (tl["lifetime_s"])
      t.tls.lifetime_s = static_cast<uint32_t>(c.uint(tl["lifetime_s"], "tunnel.tls.lifetime_s", 2, 86400 * 7));
    if (tl["lifetime_packets"])
      t.tls.lifetime_packets = c.uint(tl["lifetime_packets"], "tunnel.tls.lifetime_packets", 1000, uint64_t{1} << 62);
    if (tl["grace_s"]) t.tls.grace_s = static_cast<uint32_t>(c.uint(tl["grace_s"], "tunnel.tls.grace_s", 1, 3600));
    else t.tls.grace_s = std::max<uint32_t>(1, std::min<uint32_t>(10, t.tls.lifetime_s / 2));
    if (t.tls.grace_s >= t.tls.lifetime_s) c.fail(tl, "tunnel.tls: grace_s must be shorter than lifetime_s");
  }
  if (!n["peers"] || !n["peers"].IsSequence() || n["peers"].size() == 0)
    c.fail(n["peers"] ? n["peers"] : n, "tunnel.peers: expected a non-empty list of peer gateways");
  std::set<std::string> names;
  for (const auto& pn : n["peers"]) {
    c.onlyKeys(pn, {"name", "underlay", "zones", "labels", "next_hop_mac", "keys", "control", "pin"});
    PeerConfig p;
    p.loc = locOf(c, pn);
    for (const char* k : {"name", "underlay", "zones"})
      if (!pn[k]) c.fail(pn, std::string("peer: missing '") + k + "'");
    p.name = c.str(pn["name"], "name");
    if (p.name.empty() || p.name.size() > 32) c.fail(pn["name"], "peer name must be 1-32 characters");
    if (!names.insert(p.name).second) c.fail(pn["name"], "duplicate peer '" + p.name + "'");
    p.underlay = parseHostIp(c, pn["underlay"], "underlay", 0);
    if ((p.underlay.family == 4 && !t.ipv4) || (p.underlay.family == 6 && !t.ipv6))
      c.fail(pn["underlay"], "underlay: the switch has no IPv" + std::to_string(p.underlay.family) +
                                 " underlay address to reach it from");
    p.zones = c.strList(pn["zones"], "zones");
    for (const auto& z : p.zones) {
      auto it = std::find_if(zones.begin(), zones.end(), [&](const ZoneConfig& x) { return x.name == z; });
      if (it == zones.end()) c.fail(pn["zones"], "zones: no zone named '" + z + "' in 'zones'");
      if (it->trusted)
        c.fail(pn["zones"],
               "zones: zone '" + z + "' is trusted; zones behind a peer are reached over an untrusted network");
      p.prefixes.insert(p.prefixes.end(), it->cidrs.begin(), it->cidrs.end());
    }
    if (pn["labels"]) p.labels = c.strMap(pn["labels"], "labels");
    if (pn["next_hop_mac"]) {
      auto m = MacAddr::parse(c.str(pn["next_hop_mac"], "next_hop_mac"));
      if (!m || m->isMulticast()) c.fail(pn["next_hop_mac"], "next_hop_mac: not a unicast Ethernet address");
      p.next_hop_mac = *m;
    }
    if (pn["keys"]) {
      std::string k = c.str(pn["keys"], "keys");
      if (k == "static") p.keys = PeerConfig::Keys::kStatic;
      else if (k == "tls") p.keys = PeerConfig::Keys::kTls;
      else
        c.fail(pn["keys"], "keys: expected 'static' (the key file) or 'tls' (agreed automatically), got '" + k + "'");
    }
    if (p.keys == PeerConfig::Keys::kTls) {
      if (!t.tls.enabled)
        c.fail(pn["keys"], "keys: tls needs a 'tunnel.tls' section (certificate, key, listen address)");
      if (!pn["control"])
        c.fail(pn, "peer '" + p.name + "': keys: tls needs 'control' (address:port of its key service)");
      p.control = c.str(pn["control"], "control");
      if (p.control.rfind(':') == std::string::npos) c.fail(pn["control"], "control: expected address:port");
      if (pn["pin"]) {
        p.pin = c.str(pn["pin"], "pin");
        if (p.pin.rfind("sha256:", 0) == 0) p.pin = p.pin.substr(7);
        bool hex = p.pin.size() == 64 && p.pin.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
        if (!hex)
          c.fail(pn["pin"], "pin: expected sha256:<64 hex digits> (the SHA-256 of the peer's certificate, DER)");
      } else if (t.tls.ca.empty()) {
        c.fail(pn, "peer '" + p.name + "': without 'tunnel.tls.ca' every TLS peer needs a 'pin'");
      }
    } else if (pn["control"] || pn["pin"]) {
      c.fail(pn, "peer '" + p.name + "': 'control' and 'pin' are for keys: tls");
    }
    if (p.keys == PeerConfig::Keys::kStatic && t.key_file.empty())
      c.fail(pn, "peer '" + p.name + "' uses static keys but 'tunnel.keys' (the key file) is not set");
    t.peers.push_back(std::move(p));
  }
  return t;
}

PortConfig parsePort(const Ctx& c, const YAML::Node& n) {
  c.onlyKeys(n, {"name", "devargs", "role", "vm", "labels", "mac", "ips", "identity"});
  PortConfig p;
  p.loc = locOf(c, n);
  if (!n["name"]) c.fail(n, "port: missing 'name'");
  if (!n["devargs"]) c.fail(n, "port: missing 'devargs'");
  p.name = c.str(n["name"], "name");
  if (p.name.empty() || p.name.size() > 32) c.fail(n["name"], "port name must be 1-32 characters");
  p.devargs = c.str(n["devargs"], "devargs");
  if (p.devargs.empty()) c.fail(n["devargs"], "devargs must not be empty");
  if (n["role"]) {
    std::string r = c.str(n["role"], "role");
    std::string known;
    bool found = false;
    for (const auto& t : kPortRoles) {
      if (!t.configured) continue;
      known += std::string(known.empty() ? "'" : " or '") + t.name + "'";
      if (r == t.name) p.role = t.role, found = true;
    }
    if (!found) c.fail(n["role"], "role: expected " + known + ", got '" + r + "'");
  }
  if (n["vm"]) p.vm = c.str(n["vm"], "vm");
  if (n["labels"]) p.labels = c.strMap(n["labels"], "labels");
  if (n["mac"]) {
    auto m = MacAddr::parse(c.str(n["mac"], "mac"));
    if (!m) c.fail(n["mac"], "mac: '" + n["mac"].Scalar() + "' is not an Ethernet address (aa:bb:cc:dd:ee:ff)");
    if (m->isMulticast()) c.fail(n["mac"], "mac: a port cannot be bound to a multicast address");
    p.mac = *m;
  }
  if (n["ips"]) {
    for (const auto& s : c.strList(n["ips"], "ips")) {
      auto ip = IpAddr::parse(s);
      if (!ip) c.fail(n["ips"], "ips: '" + s + "' is not an IPv4 or IPv6 address");
      p.ips.push_back(*ip);
    }
  }
  if (p.role == PortRole::kUplink && (p.mac || !p.ips.empty() || !p.vm.empty()))
    c.fail(n, "port '" + p.name + "': an uplink has no VM, mac or ips binding");
  if (n["identity"]) {
    std::string id = c.str(n["identity"], "identity");
    if (id == "hostmon") p.hostmon = true;
    else if (id != "config") c.fail(n["identity"], "identity: expected 'config' or 'hostmon', got '" + id + "'");
    if (p.hostmon && !traits(p.role).vm_side) c.fail(n["identity"], "identity: hostmon is for VM ports, not uplinks");
    if (p.hostmon && (p.mac || !p.ips.empty() || !p.vm.empty() || !p.labels.empty()))
      c.fail(n, "port '" + p.name +
                    "': with identity: hostmon, vm, labels, mac and ips come from goldgate-hostmon; "
                    "remove them here");
  }
  return p;
}

SwitchConfig parseSwitch(const std::string& text, const std::string& name) {
  Ctx c(name);
  YAML::Node root = loadYaml(text, name);
  if (!root || root.IsNull()) c.failAt(1, "empty configuration");
  c.onlyKeys(root, {"mode", "eal", "ports", "quarantine_file", "flow_table", "timeouts", "segments_dir", "control",
                    "alerts", "mbufs", "zones", "inspection", "tunnel", "rx_ring", "tx_ring", "metrics"});
  SwitchConfig sw;
  sw.source_file = name;
  if (root["mode"]) {
    std::string m = c.str(root["mode"], "mode");
    if (m == "secure") sw.mode = SwitchMode::kSecure;
    else if (m == "l2") sw.mode = SwitchMode::kL2;
    else c.fail(root["mode"], "mode: expected 'secure' or 'l2' (benchmark baseline), got '" + m + "'");
  }
  if (root["eal"]) sw.eal_args = c.strList(root["eal"], "eal");
  if (root["mbufs"]) sw.mbufs = static_cast<uint32_t>(c.uint(root["mbufs"], "mbufs", 1023, 1u << 24));
  if (root["rx_ring"]) sw.rx_ring = static_cast<uint16_t>(c.uint(root["rx_ring"], "rx_ring", 64, 4096));
  if (root["tx_ring"]) sw.tx_ring = static_cast<uint16_t>(c.uint(root["tx_ring"], "tx_ring", 64, 4096));
  if (root["flow_table"]) {
    const auto& ft = root["flow_table"];
    c.onlyKeys(ft, {"size", "per_port"});
    if (ft["size"]) sw.flow_table_size = static_cast<uint32_t>(c.uint(ft["size"], "flow_table.size", 64, 1u << 26));
    if (ft["per_port"])
      sw.flow_table_per_port = static_cast<uint32_t>(c.uint(ft["per_port"], "flow_table.per_port", 1, 1u << 26));
  }
  if (root["timeouts"]) sw.timeouts = parseTimeouts(c, root["timeouts"]);
  if (const auto& mt = root["metrics"]) {
    c.onlyKeys(mt, {"listen", "rule_hits_top"});
    if (mt["listen"]) {
      sw.metrics_listen = c.str(mt["listen"], "metrics.listen");
      if (sw.metrics_listen == "off") sw.metrics_listen.clear();
      if (!sw.metrics_listen.empty() && !validListen(sw.metrics_listen))
        c.fail(mt["listen"],
               "metrics.listen: '" + sw.metrics_listen + "' is not HOST:PORT (e.g. 127.0.0.1:9109) or off");
    }
    if (mt["rule_hits_top"])
      sw.metrics_rule_hits_top = static_cast<uint32_t>(c.uint(mt["rule_hits_top"], "metrics.rule_hits_top", 0, 1000));
  }
  if (root["quarantine_file"]) sw.quarantine_file = c.str(root["quarantine_file"], "quarantine_file");
  if (root["segments_dir"]) sw.segments_dir = c.str(root["segments_dir"], "segments_dir");
  if (root["control"]) {
    const auto& ct = root["control"];
    c.onlyKeys(ct, {"socket", "group"});
    if (ct["socket"]) sw.control_socket = c.str(ct["socket"], "control.socket");
    if (ct["group"]) sw.control_group = c.str(ct["group"], "control.group");
  }
  if (root["alerts"]) {
    const auto& al = root["alerts"];
    c.onlyKeys(al, {"file", "window_ms", "format", "rotate_mb", "keep", "spool_dir", "sinks"});
    if (al["spool_dir"]) sw.alert_spool_dir = c.str(al["spool_dir"], "alerts.spool_dir");
    if (al["sinks"]) sw.alert_sinks = alerts::parseSinks(c, al["sinks"], sw.alert_spool_dir);
    if (al["rotate_mb"]) sw.alert_rotate_bytes = c.uint(al["rotate_mb"], "alerts.rotate_mb", 0, 1u << 20) << 20;
    if (al["keep"]) sw.alert_rotate_keep = static_cast<uint32_t>(c.uint(al["keep"], "alerts.keep", 0, 1000));
    if (al["format"]) {
      sw.alert_format = c.str(al["format"], "alerts.format");
      if (auto f = alerts::parseFormat(sw.alert_format); !f)
        c.fail(al["format"], "alerts.format: " + f.error().message);
    }
    if (al["file"]) sw.alert_file = c.str(al["file"], "alerts.file");
    if (al["window_ms"])
      sw.alert_window_ms = static_cast<uint32_t>(c.uint(al["window_ms"], "alerts.window_ms", 0, 3600000));
  }
  if (root["zones"]) sw.zones = parseZones(c, root["zones"]);
  if (root["inspection"]) sw.inspection = parseInspection(c, root["inspection"]);
  if (!root["ports"]) c.fail(root, "missing 'ports'");
  if (!root["ports"].IsSequence() || root["ports"].size() == 0)
    c.fail(root["ports"], "ports: expected a non-empty list");
  std::set<std::string> names;
  std::map<uint64_t, std::string> macs;
  std::map<std::string, std::string> ips;
  for (const auto& pn : root["ports"]) {
    PortConfig p = parsePort(c, pn);
    if (!names.insert(p.name).second) c.fail(pn, "duplicate port name '" + p.name + "'");
    if (p.mac) {
      auto [it, fresh] = macs.emplace(p.mac->toU64(), p.name);
      if (!fresh) c.fail(pn["mac"], "mac " + p.mac->toString() + " is already bound to port '" + it->second + "'");
    }
    for (const auto& ip : p.ips) {
      auto [it, fresh] = ips.emplace(ip.toString(), p.name);
      if (!fresh) c.fail(pn["ips"], "ip " + ip.toString() + " is already bound to port '" + it->second + "'");
    }
    sw.ports.push_back(std::move(p));
  }
  if (sw.ports.size() > 32) c.fail(root["ports"], "at most 32 ports are supported");
  if (root["tunnel"]) {
    sw.tunnel = parseTunnel(c, root["tunnel"], sw.zones);
    auto& t = sw.tunnel;
    if (t.sequence_file.empty())
      t.sequence_file = (fs::path(sw.quarantine_file).parent_path() / "tunnel-sequences").string();
    if (t.uplink.empty()) {
      for (const auto& p : sw.ports)
        if (p.role == PortRole::kUplink) {
          if (!t.uplink.empty()) c.fail(root["tunnel"], "tunnel: several uplinks; name the underlay one in 'uplink'");
          t.uplink = p.name;
        }
      if (t.uplink.empty()) c.fail(root["tunnel"], "tunnel: no port has role 'uplink' to carry the underlay");
    } else {
      auto it = std::find_if(sw.ports.begin(), sw.ports.end(), [&](const PortConfig& p) { return p.name == t.uplink; });
      if (it == sw.ports.end() || it->role != PortRole::kUplink)
        c.fail(root["tunnel"]["uplink"], "tunnel.uplink: no uplink port named '" + t.uplink + "'");
    }
    for (const auto& p : t.peers)
      if (names.count(p.name))
        c.failAt(p.loc.line, "peer '" + p.name + "' has the name of a port (a peer is a port of its own)");
    if (sw.ports.size() + t.peers.size() > 32)
      c.fail(root["tunnel"], "at most 32 ports and peers together are supported");
  }
  if (root["inspection"] && root["inspection"]["ports"])
    for (const auto& [name, limit] : sw.inspection.ports)
      if (!names.count(name)) c.fail(root["inspection"]["ports"], "inspection.ports: no port named '" + name + "'");
  return sw;
}

Endpoint parseEndpoint(const Ctx& c, const YAML::Node& n, const char* what, const std::set<std::string>& segments) {
  std::string s = c.str(n, what);
  Endpoint e;
  if (s == "any") return e;
  if (s == "external") {
    e.kind = Endpoint::Kind::kExternal;
    return e;
  }
  if (s.find('/') != std::string::npos || IpAddr::parse(s)) {
    auto cidr = Cidr::parse(s);
    if (!cidr) c.fail(n, std::string(what) + ": '" + s + "' is not a valid prefix (address/length, host bits zero)");
    e.kind = Endpoint::Kind::kCidr;
    e.cidr = *cidr;
    return e;
  }
  if (!segments.count(s)) c.fail(n, std::string(what) + ": unknown segment '" + s + "'");
  e.kind = Endpoint::Kind::kSegment;
  e.segment = s;
  return e;
}

uint8_t parseProtocol(const Ctx& c, const YAML::Node& n) {
  std::string s = c.str(n, "proto");
  if (s == "any") return 0;
  if (s == "tcp") return 6;
  if (s == "udp") return 17;
  if (s == "icmp") return 1;
  if (s == "icmpv6") return 58;
  return static_cast<uint8_t>(c.uint(n, "proto (tcp, udp, icmp, icmpv6, any or a number)", 1, 255));
}

PortRange parsePortRange(const Ctx& c, const YAML::Node& n) {
  std::string s = c.str(n, "ports");
  PortRange r;
  auto dash = s.find('-');
  auto num = [&](const std::string& t) -> uint16_t {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || p != t.data() + t.size() || v > 65535)
      c.fail(n, "ports: '" + s + "' is not a port (0-65535) or range (lo-hi)");
    return static_cast<uint16_t>(v);
  };
  if (dash == std::string::npos) {
    r.lo = r.hi = num(s);
  } else {
    r.lo = num(s.substr(0, dash));
    r.hi = num(s.substr(dash + 1));
    if (r.lo > r.hi) c.fail(n, "ports: range '" + s + "' has lo > hi");
  }
  return r;
}

RuleConfig parseRule(const Ctx& c, const YAML::Node& n, const std::set<std::string>& segments, bool quarantine) {
  if (quarantine) c.onlyKeys(n, {"name", "to", "proto", "ports", "action", "log", "uninspected"});
  else c.onlyKeys(n, {"name", "from", "to", "proto", "ports", "action", "log", "uninspected"});
  RuleConfig r;
  r.loc = locOf(c, n);
  r.name = n["name"] ? c.str(n["name"], "name")
                     : c.file().substr(c.file().find_last_of('/') + 1) + ":" + std::to_string(r.loc.line);
  if (!quarantine) {
    if (!n["from"]) c.fail(n, "rule '" + r.name + "': missing 'from'");
    r.from = parseEndpoint(c, n["from"], "from", segments);
  } else {
    r.from.kind = Endpoint::Kind::kSegment;
    r.from.segment = "quarantine";
  }
  if (!n["to"]) c.fail(n, "rule '" + r.name + "': missing 'to'");
  r.to = parseEndpoint(c, n["to"], "to", segments);
  if (r.from.kind == Endpoint::Kind::kCidr && r.to.kind == Endpoint::Kind::kCidr &&
      r.from.cidr.addr.family != r.to.cidr.addr.family)
    c.fail(n, "rule '" + r.name + "': 'from' and 'to' prefixes are of different IP families");
  if (n["proto"]) r.protocol = parseProtocol(c, n["proto"]);
  if (n["ports"]) {
    if (r.protocol != 6 && r.protocol != 17 && r.protocol != 132)
      c.fail(n["ports"], "rule '" + r.name + "': ports need proto tcp, udp or sctp");
    if (n["ports"].IsSequence()) {
      if (n["ports"].size() == 0) c.fail(n["ports"], "ports: empty list (leave 'ports' out for any port)");
      for (const auto& e : n["ports"]) r.ports.push_back(parsePortRange(c, e));
    } else {
      r.ports.push_back(parsePortRange(c, n["ports"]));
    }
  }
  if (!n["action"]) c.fail(n, "rule '" + r.name + "': missing 'action' (allow, allow-log, deny, deny-log)");
  std::string a = c.str(n["action"], "action");
  if (a == "allow") r.action = Action::kAllow;
  else if (a == "allow-log" || a == "allow-and-log") r.action = Action::kAllow, r.log = true;
  else if (a == "deny") r.action = Action::kDeny;
  else if (a == "deny-log") r.action = Action::kDeny, r.log = true;
  else c.fail(n["action"], "action: expected allow, allow-log, deny or deny-log, got '" + a + "'");
  if (n["log"]) r.log = c.boolean(n["log"], "log");
  if (n["uninspected"]) {
    r.uninspected = c.boolean(n["uninspected"], "uninspected");
    if (r.uninspected && r.action != Action::kAllow)
      c.fail(n["uninspected"], "rule '" + r.name + "': uninspected applies to allow rules only");
  }
  return r;
}

// Reserved segment names the compiler defines itself.
bool reservedSegment(const std::string& s) {
  return s == "any" || s == "external" || s == "quarantine" || s == "unassigned";
}

SegmentsConfig parseSegmentFiles(const std::vector<std::pair<std::string, std::string>>& files,
                                 const SwitchConfig& sw) {
  SegmentsConfig out;
  std::vector<std::pair<Ctx, YAML::Node>> docs;
  std::set<std::string> segNames{"quarantine"};
  std::map<std::string, SourceLoc> defined;
  // Pass 1: segments (rules may name segments of any file).
  for (const auto& [name, text] : files) {
    Ctx c(name);
    YAML::Node root = loadYaml(text, name);
    out.files.push_back(name);
    if (!root || root.IsNull()) continue;  // an empty file is allowed (e.g. all commented out)
    c.onlyKeys(root, {"segments", "rules", "quarantine", "default"});
    if (root["segments"]) {
      if (!root["segments"].IsSequence()) c.fail(root["segments"], "segments: expected a list");
      for (const auto& sn : root["segments"]) {
        c.onlyKeys(sn, {"name", "members", "description"});
        SegmentConfig s;
        s.loc = locOf(c, sn);
        if (!sn["name"]) c.fail(sn, "segment: missing 'name'");
        s.name = c.str(sn["name"], "name");
        if (s.name.empty() || s.name.size() > 48) c.fail(sn["name"], "segment name must be 1-48 characters");
        if (reservedSegment(s.name)) c.fail(sn["name"], "segment name '" + s.name + "' is reserved");
        if (s.name.find('/') != std::string::npos || IpAddr::parse(s.name))
          c.fail(sn["name"], "segment name '" + s.name + "' looks like an address");
        auto [it, fresh] = defined.emplace(s.name, s.loc);
        if (!fresh) c.fail(sn["name"], "segment '" + s.name + "' is already defined at " + it->second.str());
        if (sn["members"]) {
          const auto& m = sn["members"];
          c.onlyKeys(m, {"vms", "ports", "labels"});
          if (m["vms"]) s.vms = c.strList(m["vms"], "vms");
          if (m["ports"]) {
            s.ports = c.strList(m["ports"], "ports");
            for (const auto& pname : s.ports) {
              bool found =
                  std::any_of(sw.ports.begin(), sw.ports.end(), [&](const PortConfig& p) { return p.name == pname; }) ||
                  std::any_of(sw.tunnel.peers.begin(), sw.tunnel.peers.end(),
                              [&](const PeerConfig& p) { return p.name == pname; });
              if (!found) c.fail(m["ports"], "members.ports: no port named '" + pname + "' in " + sw.source_file);
            }
          }
          if (m["labels"]) s.labels = c.strMap(m["labels"], "labels");
        }
        segNames.insert(s.name);
        out.segments.push_back(std::move(s));
      }
    }
    docs.emplace_back(c, root);
  }
  // Pass 2: rules, quarantine allowances, default.
  bool haveQuarantine = false, haveDefault = false;
  for (auto& [c, root] : docs) {
    if (root["rules"]) {
      if (!root["rules"].IsSequence()) c.fail(root["rules"], "rules: expected a list");
      for (const auto& rn : root["rules"]) out.rules.push_back(parseRule(c, rn, segNames, false));
    }
    if (root["quarantine"]) {
      const auto& q = root["quarantine"];
      if (haveQuarantine) c.fail(q, "quarantine: defined in more than one file");
      haveQuarantine = true;
      c.onlyKeys(q, {"allow"});
      if (q["allow"]) {
        if (!q["allow"].IsSequence()) c.fail(q["allow"], "quarantine.allow: expected a list of rules");
        for (const auto& rn : q["allow"]) {
          RuleConfig r = parseRule(c, rn, segNames, true);
          if (r.action != Action::kAllow) c.fail(rn, "quarantine.allow: only allow actions make sense here");
          out.quarantine_rules.push_back(std::move(r));
        }
      }
    }
    if (root["default"]) {
      const auto& d = root["default"];
      if (haveDefault) c.fail(d, "default: defined in more than one file");
      haveDefault = true;
      c.onlyKeys(d, {"action", "log"});
      if (d["action"] && c.str(d["action"], "default.action") != "deny")
        c.fail(d["action"], "default.action: the default is always deny (least privilege); write allow rules instead");
      if (d["log"]) out.default_log = c.boolean(d["log"], "default.log");
    }
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError{path + ":0: cannot open: " + std::strerror(errno)};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const char* unreadableCategoryName(Unreadable u) {
  static constexpr const char* kNames[] = {"tls", "ssh", "encrypted", "decode-failed", "over-budget"};
  return kNames[static_cast<int>(u)];
}

std::string Endpoint::str() const {
  switch (kind) {
    case Kind::kAny: return "any";
    case Kind::kExternal: return "external";
    case Kind::kSegment: return segment;
    case Kind::kCidr: return cidr.toString();
  }
  return "?";
}

const char* protocolName(uint8_t proto) {
  switch (proto) {
    case 0: return "any";
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "icmpv6";
    case 132: return "sctp";
    default: return "ip";
  }
}

Result<SwitchConfig> parseSwitchConfig(const std::string& text, const std::string& name) {
  try {
    return parseSwitch(text, name);
  } catch (const ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    return makeError(Error::Code::kParse, name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<SwitchConfig> loadSwitchConfig(const std::string& path) {
  try {
    auto r = parseSwitch(readFile(path), path);
    return r;
  } catch (const ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    return makeError(Error::Code::kParse, path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

std::string segmentsDirOf(const SwitchConfig& sw) {
  std::string dir = sw.segments_dir.empty() ? "segments" : sw.segments_dir;
  if (!dir.empty() && dir[0] == '/') return dir;
  fs::path base = fs::path(sw.source_file).parent_path();
  return (base / dir).lexically_normal().string();
}

Result<SegmentsConfig> parseSegments(const std::vector<std::pair<std::string, std::string>>& files,
                                     const SwitchConfig& sw) {
  try {
    return parseSegmentFiles(files, sw);
  } catch (const ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    return makeError(Error::Code::kParse, "segments:" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<void> checkInspectionSegments(const SwitchConfig& sw, const SegmentsConfig& segs) {
  for (const auto& entry : sw.inspection.segments) {
    const std::string& name = entry.first;
    if (name == "quarantine" ||
        std::any_of(segs.segments.begin(), segs.segments.end(), [&](const SegmentConfig& s) { return s.name == name; }))
      continue;
    std::string known;
    for (const auto& s : segs.segments) known += (known.empty() ? "" : ", ") + s.name;
    auto line = sw.inspection.segment_lines.find(name);
    return makeError(Error::Code::kInvalidArgument,
                     sw.source_file + ":" +
                         std::to_string(line == sw.inspection.segment_lines.end() ? 0 : line->second) +
                         ": inspection.segments: '" + name + "' is no segment in the segment files (" +
                         (known.empty() ? "none defined" : known) + ")");
  }
  return {};
}

Result<SegmentsConfig> loadSegments(const std::string& dir, const SwitchConfig& sw) {
  std::vector<std::pair<std::string, std::string>> files;
  try {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return makeError(Error::Code::kNotFound, dir + ":0: segments folder not found");
    std::vector<std::string> paths;
    for (const auto& e : fs::directory_iterator(dir)) {
      auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) paths.push_back(e.path().string());
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) files.emplace_back(p, readFile(p));
  } catch (const ConfigError& e) {
    return makeError(Error::Code::kIo, e.message);
  } catch (const fs::filesystem_error& e) {
    return makeError(Error::Code::kIo, dir + ":0: " + e.what());
  }
  return parseSegments(files, sw);
}

}  // namespace goldgate::dataplane

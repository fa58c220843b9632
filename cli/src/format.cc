#include "format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <vector>

#include "text_table.h"

namespace goldgate::cli {
namespace {

std::string nicTarget(const proto::VmNic& n) {
  if (n.type() == "vhostuser") return n.source();
  std::string s = n.type();
  if (!n.source().empty()) s += ":" + n.source();
  return s;
}

std::string connectionLine(const proto::HostmonStatus& st) {
  std::string s = "libvirt " + st.uri() + ": " + (st.connected() ? "connected" : "NOT CONNECTED");
  if (!st.connected() && !st.last_error().empty()) s += " (" + st.last_error() + ")";
  if (st.disconnects()) s += ", " + std::to_string(st.disconnects()) + " reconnect(s)";
  s += "\n";
  if (!st.switch_socket().empty()) {
    s += "switch " + st.switch_socket() + ": ";
    if (st.switch_reachable()) s += "identities pushed (policy v" + std::to_string(st.switch_policy_version()) + ")";
    else s += "NOT REACHABLE" + (st.switch_error().empty() ? "" : " (" + st.switch_error() + ")");
    s += "\n";
  }
  return s;
}

// Where the switch put a vhost-user NIC: "port (segment)", the refusal, or "-".
std::string switchPlace(const proto::VmNic& n) {
  if (n.switch_port().empty()) return n.switch_error().empty() ? "-" : "(" + n.switch_error() + ")";
  return n.switch_port() + " (" + (n.switch_segment().empty() ? "?" : n.switch_segment()) + ")" +
         (n.switch_error().empty() ? "" : " " + n.switch_error());
}

}  // namespace

std::string utcTime(int64_t ns) {
  if (ns <= 0) return "-";
  time_t t = static_cast<time_t>(ns / 1000000000);
  tm tmv{};
  gmtime_r(&t, &tmv);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return buf;
}

std::string formatVms(const proto::ListVmsResponse& l, const proto::HostmonStatus& st) {
  std::ostringstream o;
  o << connectionLine(st);
  if (l.vms_size() == 0) {
    o << "no VMs\n";
    return o.str();
  }
  o << "\n";
  Table t({"NAME", "STATE", "UUID", "NICS", "SEGMENT", "SWITCH PORT"});
  for (const auto& vm : l.vms()) {
    std::string nics, ports;
    for (const auto& n : vm.nics()) {
      nics += (nics.empty() ? "" : ", ") + (n.mac().empty() ? "?" : n.mac()) + "->" + nicTarget(n);
      if (!n.switch_port().empty()) ports += (ports.empty() ? "" : ", ") + switchPlace(n);
    }
    t.add({vm.name(), vm.state(), vm.uuid(), nics.empty() ? "-" : nics, vm.segment().empty() ? "-" : vm.segment(),
           ports.empty() ? "-" : ports});
  }
  o << t.str();
  return o.str();
}

std::string formatVm(const proto::VmRecord& vm) {
  std::ostringstream o;
  o << "name:        " << vm.name() << "\n";
  o << "uuid:        " << vm.uuid() << "\n";
  o << "state:       " << vm.state() << (vm.reason().empty() ? "" : " (" + vm.reason() + ")") << "  since "
    << utcTime(vm.last_change_unix_ns()) << "  generation " << vm.generation() << "\n";
  o << "app:         " << (vm.app().empty() ? "-" : vm.app()) << "\n";
  o << "segment:     " << (vm.segment().empty() ? "-" : vm.segment()) << "\n";
  o << "manifest:    " << (vm.manifest().empty() ? "-" : vm.manifest()) << "\n";
  if (!vm.has_labels()) o << "             (no Goldgate metadata in the domain XML)\n";
  std::vector<std::pair<std::string, std::string>> labels(vm.labels().begin(), vm.labels().end());
  std::sort(labels.begin(), labels.end());
  for (const auto& [k, v] : labels) o << "label:       " << k << "=" << v << "\n";
  o << "guest agent: "
    << (vm.agent_channel() ? (vm.agent_connected() ? "connected" : "channel present, not connected") : "no channel")
    << "\n";
  if (!vm.parse_error().empty()) o << "WARNING:     " << vm.parse_error() << "\n";
  o << "\n";
  Table n({"MAC", "TYPE", "SOURCE", "MODE", "TARGET", "MODEL", "SWITCH PORT"});
  for (const auto& x : vm.nics())
    n.add({x.mac().empty() ? "-" : x.mac(), x.type(), x.source().empty() ? "-" : x.source(),
           x.source_mode().empty() ? "-" : x.source_mode(), x.target_dev().empty() ? "-" : x.target_dev(),
           x.model().empty() ? "-" : x.model(), switchPlace(x)});
  o << (vm.nics_size() ? n.str() : "no NICs\n") << "\n";
  Table d({"DEVICE", "TYPE", "TARGET", "SOURCE"});
  for (const auto& x : vm.devices())
    d.add({x.kind(), x.type().empty() ? "-" : x.type(), x.target().empty() ? "-" : x.target(),
           x.source().empty() ? "-" : x.source()});
  o << (vm.devices_size() ? d.str() : "no other devices\n");
  return o.str();
}

std::string humanCount(uint64_t v) {
  char buf[32];
  if (v < 10000) std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
  else if (v < 10000000) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else if (v < 10000000000ull) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fG", v / 1e9);
  return buf;
}

std::optional<uint32_t> protocolNumber(const std::string& s) {
  if (s.empty() || s == "any") return 0;
  if (s == "tcp") return 6;
  if (s == "udp") return 17;
  if (s == "icmp") return 1;
  if (s == "icmpv6") return 58;
  if (s == "sctp") return 132;
  if (s.size() <= 3 && s.find_first_not_of("0123456789") == std::string::npos && std::stoul(s) <= 255)
    return static_cast<uint32_t>(std::stoul(s));
  return std::nullopt;
}

std::string formatStatus(const proto::StatusResponse& s, bool all) {
  std::ostringstream o;
  o << "goldgate-switch " << s.version() << "  up " << s.uptime_seconds() << "s  workers " << s.workers()
    << "  policy v" << s.policy_version() << " (" << s.policy_source() << ")\n";
  o << "flows " << s.flows_active() << " / " << s.flow_capacity() << "\n\n";
  Table t({"PORT", "ROLE", "VM", "SEGMENT", "LINK", "RX", "TX", "DROPS", "TX-ERR"});
  for (const auto& p : s.ports())
    t.add({p.name(), p.role(), p.vm().empty() ? (p.identity() == "hostmon" ? "(hostmon: none)" : "-") : p.vm(),
           p.segment() + (p.quarantined() ? " (!)" : ""), p.link_up() ? "up" : "down", humanCount(p.rx_packets()),
           humanCount(p.tx_packets()), humanCount(p.drops()), humanCount(p.tx_errors())});
  o << t.str() << "\n";
  if (s.tunnels_size() > 0) {
    Table u({"PEER", "UNDERLAY", "NEXT HOP", "KEYS", "SPI OUT", "SEQ OUT", "SPI IN", "SEALED", "OPENED", "AEAD"});
    for (const auto& x : s.tunnels()) {
      std::string in;
      for (uint32_t spi : x.spi_in()) {
        char b[16];
        std::snprintf(b, sizeof b, "%s0x%x", in.empty() ? "" : ",", spi);
        in += b;
      }
      char out[16];
      std::snprintf(out, sizeof out, "0x%x", x.spi_out());
      std::string keys = x.keys() + (x.epoch() ? " epoch " + std::to_string(x.epoch() & 0xffffffffu) : "");
      u.add({x.peer(), x.underlay(),
             x.next_hop() + " " + (x.next_hop_mac().empty() ? "(unresolved)" : x.next_hop_mac()), keys, out,
             std::to_string(x.seq_out()), in, humanCount(x.tx_packets()), humanCount(x.rx_packets()), x.aead()});
    }
    o << u.str() << "\n";
  }
  Table d({"DROP REASON", "COUNT", "MEANING"});
  bool any = false;
  for (const auto& c : s.drops()) {
    if (c.value() == 0 && !all) continue;
    any = true;
    d.add({c.name(), std::to_string(c.value()), c.help()});
  }
  if (any) o << d.str() << "\n";
  else o << "no drops\n\n";
  Table c({"COUNTER", "VALUE", "MEANING"});
  for (const auto& x : s.counters()) c.add({x.name(), std::to_string(x.value()), x.help()});
  o << c.str();
  o << "\nalerts: " << s.alert_file() << "\n";
  if (!s.metrics_url().empty()) o << "metrics: " << s.metrics_url() << "\n";
  else if (!s.metrics_error().empty()) o << "metrics: not served: " << s.metrics_error() << "\n";
  else o << "metrics: off\n";
  if (s.sinks_size() > 0) {
    Table k({"SINK", "TRANSPORT", "ADDRESS", "FORMAT", "STATE", "BACKLOG", "SENT", "CONFIRMED", "DROPPED", "FILTERED"});
    for (const auto& x : s.sinks())
      k.add({x.name(), x.transport(), x.address(), x.format(), x.state(),
             std::to_string(x.backlog_events()) + " (" + humanCount(x.backlog_bytes()) + "B)", std::to_string(x.sent()),
             std::to_string(x.confirmed()), std::to_string(x.dropped()), std::to_string(x.filtered())});
    o << k.str();
    for (const auto& x : s.sinks())
      if (x.state() != "up" && !x.last_error().empty()) o << "  " << x.name() << ": " << x.last_error() << "\n";
  }
  return o.str();
}

std::string formatFlows(const proto::FlowsResponse& f) {
  Table t(
      {"PROTO", "SOURCE", "DESTINATION", "STATE", "IN-PORT", "RULE", "PKTS>", "<PKTS", "AGE(s)", "IDLE(s)", "CLASSES"});
  for (const auto& e : f.flows()) {
    std::string cls;
    for (const auto& c : e.classes()) cls += (cls.empty() ? "" : ",") + c;
    t.add({e.protocol(), e.src(), e.dst(), e.state(), e.in_port(), e.rule(), humanCount(e.packets_orig()),
           humanCount(e.packets_reply()), std::to_string(e.age_ms() / 1000), std::to_string(e.idle_ms() / 1000),
           cls.empty() ? "-" : cls});
  }
  std::ostringstream o;
  o << t.str();
  o << f.flows_size() << " flows shown, " << f.total_matching() << " matching"
    << (f.truncated() ? " (truncated: use --limit)" : "") << "\n";
  return o.str();
}

std::string formatRules(const proto::RulesResponse& r, bool hits) {
  std::vector<std::string> head{"#", "RULE", "FROM", "TO", "PROTO", "PORTS", "ACTION", "WHERE"};
  if (hits) head.push_back("HITS");
  Table t(head);
  int i = 0;
  for (const auto& e : r.rules()) {
    std::vector<std::string> row{std::to_string(i++),
                                 e.name(),
                                 e.from(),
                                 e.to(),
                                 e.protocol(),
                                 e.ports(),
                                 e.action(),
                                 e.file().empty() ? "(built in)" : e.file() + ":" + std::to_string(e.line())};
    if (hits) row.push_back(std::to_string(e.hits()));
    t.add(row);
  }
  return "policy v" + std::to_string(r.policy_version()) + "\n" + t.str();
}

}  // namespace goldgate::cli

namespace goldgate::cli {

std::string formatIdentities(const proto::SetIdentitiesResponse& r) {
  Table t({"PORT", "VM", "SEGMENT", "RESULT"});
  for (const auto& e : r.results())
    t.add({e.port().empty() ? (e.socket().empty() ? "-" : e.socket()) : e.port(), e.vm().empty() ? "(none)" : e.vm(),
           e.segment().empty() ? "-" : e.segment(),
           e.ok() ? (e.error().empty() ? "ok" : "ok: " + e.error()) : "error: " + e.error()});
  std::string s =
      t.str() + "policy v" + std::to_string(r.policy_version()) + (r.changed() ? " (published)" : " (unchanged)");
  if (r.flows_cleared()) s += ", " + std::to_string(r.flows_cleared()) + " connection(s) cleared";
  return s + "\n";
}

}  // namespace goldgate::cli

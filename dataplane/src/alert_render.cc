// One renderer per AlertRecord kind (alert_render.h): the common part of a record (port, VM,
// segment, flow, rule) is filled in once, then the record's own renderer sets the kind, severity,
// action, message and aggregation key.
#include "alert_render.h"

#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <string_view>

#include "goldgate/alerts/alert_log.h"
#include "goldgate/alerts/kinds.h"
#include "goldgate/common/enum_table.h"
#include "goldgate/common/net_types.h"
#include "goldgate/datapolicy/decode.h"

namespace goldgate::dataplane {
namespace {

using alerts::Kind;
using alerts::setKind;

// A record's event with what every kind shares filled in; its renderer adds the rest.
struct Draft {
  const AlertRecord& a;
  const AlertContext& ctx;
  proto::AlertEvent& ev;
  std::string& key;
  std::string rule;  // the rule that decided, or "default"
  std::string flow;  // "tcp 10.0.0.1:40000 -> 10.0.0.2:22"

  const std::string& src() const { return ev.flow().src_ip(); }
  const std::string& dst() const { return ev.flow().dst_ip(); }
};

void fillCommon(Draft& d) {
  const AlertRecord& a = d.a;
  const SwitchConfig& sw = d.ctx.sw;
  const CompiledPolicy* pol = d.ctx.pol;
  proto::AlertEvent& ev = d.ev;
  ev.set_policy_version(a.policy_gen);
  if (a.port < sw.ports.size()) {
    ev.set_port(sw.ports[a.port].name);
    ev.set_vm(sw.ports[a.port].vm);
    if (pol && a.port < pol->portCount()) ev.set_segment(pol->segmentName(pol->portSegment(a.port)));
  } else if (pol && a.port < pol->portCount()) {  // a peer gateway's port
    ev.set_port(pol->port(a.port).name);
    ev.set_segment(pol->segmentName(pol->portSegment(a.port)));
  }
  auto* fl = ev.mutable_flow();
  if (a.family) {
    fl->set_src_ip(IpAddr::fromBytes(a.family, a.src).toString());
    fl->set_dst_ip(IpAddr::fromBytes(a.family, a.dst).toString());
    fl->set_src_port(a.sport);
    fl->set_dst_port(a.dport);
    fl->set_protocol(a.protocol);
    fl->set_community_id(alerts::communityId(a.family, a.src, a.dst, a.protocol, a.sport, a.dport));
  }
  d.rule = "default";
  // The record's rule id belongs to its generation; name it only if that policy is still in force.
  if (pol && pol->generation() == a.policy_gen && a.rule < pol->ruleCount()) d.rule = pol->rule(a.rule).name;
  ev.set_rule(d.rule);
  d.flow = std::string(protocolName(a.protocol)) + " " + fl->src_ip() + ":" + std::to_string(a.sport) + " -> " +
           fl->dst_ip() + ":" + std::to_string(a.dport);
}

// The event's kind and `parts`, '|'-separated: repeats with the same key are one aggregate.
std::string keyOf(const Draft& d, std::initializer_list<std::string_view> parts) {
  std::string key = d.ev.kind();
  for (std::string_view p : parts) key.append("|").append(p);
  return key;
}

// A connection a rule decided, with the rule's logging on: denied, or allowed and logged.
bool renderRuleHit(Draft& d, Kind kind, const char* action, const char* verb) {
  setKind(d.ev, kind);
  d.ev.set_action(action);
  d.ev.set_message(std::string("connection ") + verb + " by rule '" + d.rule + "': " + d.flow);
  d.key = keyOf(d, {d.ev.port(), d.rule, d.src(), d.dst(), std::to_string(d.a.protocol), std::to_string(d.a.dport)});
  return true;
}

bool renderDeny(Draft& d) { return renderRuleHit(d, Kind::kPolicyDeny, "deny", "denied"); }
bool renderAllowLog(Draft& d) { return renderRuleHit(d, Kind::kPolicyAllowLog, "allow", "allowed and logged"); }

bool renderFlowTableFull(Draft& d) {
  setKind(d.ev, Kind::kFlowTableFull);
  d.ev.set_action("deny");
  d.ev.set_message("flow table full: new connection refused (fail closed): " + d.flow);
  d.key = keyOf(d, {d.ev.port()});
  return true;
}

bool renderSpoof(Draft& d, bool mac) {
  const uint8_t* m = d.a.src_mac;
  char macText[18];
  std::snprintf(macText, sizeof macText, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  setKind(d.ev, mac ? Kind::kSpoofMac : Kind::kSpoofIp);
  d.ev.set_action("drop");
  d.ev.set_rule("anti-spoofing");
  d.ev.set_message(std::string("spoofed source ") + (mac ? std::string("MAC ") + macText : "IP " + d.src()) +
                   " from port '" + d.ev.port() + "'");
  d.key = keyOf(d, {d.ev.port(), macText, d.src()});
  return true;
}

bool renderSpoofMac(Draft& d) { return renderSpoof(d, true); }
bool renderSpoofIp(Draft& d) { return renderSpoof(d, false); }

bool renderFlowCut(Draft& d) {
  setKind(d.ev, Kind::kFlowCut);
  d.ev.set_action("cut");
  d.ev.set_message("connection cut: policy version " + std::to_string(d.a.policy_gen) + " no longer allows " + d.flow);
  d.key = keyOf(d, {d.ev.port(), d.src(), d.dst(), std::to_string(d.a.dport)});
  return true;
}

// Sets the zones of the flow's ends; returns them as "src -> dst" for the message.
std::string setZones(Draft& d) {
  const auto& zones = d.ctx.sw.zones;
  auto zoneName = [&](uint8_t z) { return z == 0 || z > zones.size() ? std::string() : zones[z - 1].name; };
  d.ev.set_zone(zoneName(d.a.zone_src));
  d.ev.set_dst_zone(zoneName(d.a.zone_dst));
  return (d.ev.zone().empty() ? "(no zone)" : d.ev.zone()) + " -> " +
         (d.ev.dst_zone().empty() ? "(no zone)" : d.ev.dst_zone());
}

bool renderDataFinding(Draft& d) {
  const AlertRecord& a = d.a;
  const std::string zones = setZones(d);
  std::string cls(a.class_name, strnlen(a.class_name, sizeof a.class_name));
  auto action = static_cast<datapolicy::Action>(a.action);
  setKind(d.ev, Kind::kData, cls);
  // The class's own severity; the row's default for a class a reload has taken away since.
  if (d.ctx.classifier)
    for (const auto& c : d.ctx.classifier->classes())
      if (c.name == cls) d.ev.set_severity(c.severity);
  d.ev.set_action(datapolicy::actionName(action));
  auto* dc = d.ev.mutable_data_class();
  dc->set_name(cls);
  dc->set_count(a.count);
  dc->set_confidence(a.confidence_pct / 100.0);
  dc->set_masked_sample(std::string(a.masked, strnlen(a.masked, sizeof a.masked)));
  dc->set_stream_offset(a.offset);
  dc->set_path(std::string(a.path, strnlen(a.path, sizeof a.path)));
  d.ev.set_rule(cls);
  const char* what = action == datapolicy::Action::kAlert ? "reported"
                     : action == datapolicy::Action::kRequireEncryption
                         ? "blocked and reset (it must travel encrypted, and this flow is not)"
                     : action == datapolicy::Action::kQuarantine ? "blocked and reset; the sending VM is quarantined"
                                                                 : "blocked and reset";
  d.ev.set_message(cls + " (" + dc->masked_sample() + ") in " + d.flow +
                   (dc->path().empty() ? "" : " through " + dc->path()) + " (" + zones + "): " + what);
  d.key = keyOf(d, {d.src(), d.dst(), std::to_string(a.sport), std::to_string(a.dport)});
  return true;
}

// A connection inspection could not follow (`what` says why); `action` says whether that blocked it.
bool renderInspectionLimit(Draft& d, Kind kind, const char* what) {
  const std::string zones = setZones(d);
  const bool closed = d.a.action == static_cast<uint8_t>(datapolicy::Action::kBlock);
  setKind(d.ev, kind);
  if (closed) d.ev.set_severity(7);  // a class that fails closed made it a blocked connection
  d.ev.set_action(closed ? "block" : "alert");
  // A gap over decoded content may be blocked by an unreadable rule as well as by a class.
  const char* why = d.ev.has_content() ? "blocked (an unreadable rule, or a data class that fails closed)"
                                       : "blocked: a data class that fails closed applies here";
  d.ev.set_message(std::string(what) + ": " + d.flow + " (" + zones + "); " + (closed ? why : "passed and reported"));
  d.key = keyOf(d, {d.src(), d.dst(), std::to_string(d.a.sport), std::to_string(d.a.dport)});
  return true;
}

// What could not be read, from the record's content fields (a gap or opaque content).
std::string fillContent(Draft& d) {
  const AlertRecord& a = d.a;
  if (a.category == 0) return {};
  auto text = [](const char* s, size_t n) { return std::string(s, strnlen(s, n)); };
  auto* c = d.ev.mutable_content();
  c->set_category(unreadableCategoryName(static_cast<Unreadable>(a.category - 1)));
  if (a.reason) c->set_reason(datapolicy::unreadableName(static_cast<datapolicy::Unreadable>(a.reason - 1)));
  c->set_path(text(a.path, sizeof a.path));
  c->set_detail(text(a.detail, sizeof a.detail));
  std::string what = c->category();
  if (c->category() == "tls") {
    c->set_server_name(text(a.class_name, sizeof a.class_name));
    c->set_ja4(text(a.masked, sizeof a.masked));
    c->set_alpn(text(a.alpn, sizeof a.alpn));
    if (a.tls_version >= 0x0301 && a.tls_version <= 0x0304)
      c->set_tls_version("1." + std::to_string((a.tls_version & 0xff) - 1));
    what = "TLS" + (c->server_name().empty() ? std::string(" (no server name)") : " to " + c->server_name()) +
           (c->alpn().empty() ? "" : ", ALPN " + c->alpn()) + (c->ja4().empty() ? "" : ", " + c->ja4());
  } else if (c->category() == "ssh") {
    what = "SSH";
  } else {
    what = what + " content" + (c->path().empty() ? "" : " at " + c->path()) +
           (c->reason().empty() ? "" : " (" + c->reason() + (c->detail().empty() ? "" : ": " + c->detail()) + ")");
  }
  return what;
}

bool renderInspectionGap(Draft& d) {
  const std::string content = fillContent(d);
  if (!content.empty())
    return renderInspectionLimit(d, Kind::kInspectionGap, ("content that cannot be read: " + content).c_str());
  return renderInspectionLimit(
      d, Kind::kInspectionGap,
      "payload bytes of a connection could never be inspected (a segment was lost or the hold bound reached)");
}

bool renderInspectionOpaque(Draft& d) {
  const std::string content = fillContent(d);
  const std::string zones = setZones(d);
  const bool blocked = d.a.action == static_cast<uint8_t>(datapolicy::Action::kBlock);
  setKind(d.ev, Kind::kInspectionOpaque);
  if (blocked) d.ev.set_severity(7);
  d.ev.set_action(blocked ? "block" : "alert");
  d.ev.set_rule("inspection.unreadable");
  d.ev.set_message(content + " in " + d.flow + " (" + zones + "): cannot be read; " +
                   (blocked ? "blocked by an unreadable rule" : "reported by an unreadable rule"));
  d.key = keyOf(d, {d.src(), d.dst(), std::to_string(d.a.sport), std::to_string(d.a.dport)});
  return true;
}

bool renderInspectionOverload(Draft& d) {
  return renderInspectionLimit(d, Kind::kInspectionOverload,
                               "too many inspected connections: this one could not be followed");
}

bool renderInspectionEvasion(Draft& d) {
  setKind(d.ev, Kind::kInspectionEvasion);
  d.ev.set_action("block");
  d.ev.set_message("two versions of the same bytes (overlapping TCP segments with different content) in " + d.flow +
                   ": receivers resolve overlaps differently, so the connection is blocked");
  d.key = keyOf(d, {d.src(), d.dst(), std::to_string(d.a.sport), std::to_string(d.a.dport)});
  return true;
}

// The drop reasons a worker reports as tunnel alerts (Worker::tunnelAlert), and their kinds.
struct TunnelDrop {
  DropReason why;
  Kind kind;
};
constexpr TunnelDrop kTunnelDrops[] = {
    {DropReason::kEspUnknownSa, Kind::kTunnelEspUnknownSa},
    {DropReason::kEspReplay, Kind::kTunnelEspReplay},
    {DropReason::kEspAuthentication, Kind::kTunnelEspAuthentication},
    {DropReason::kEspMalformed, Kind::kTunnelEspMalformed},
    {DropReason::kTunnelSeqExhausted, Kind::kTunnelSeqExhausted},
    {DropReason::kUnderlayOther, Kind::kTunnelUnderlayOther},
};

bool renderTunnelDrop(Draft& d) {
  const AlertRecord& a = d.a;
  auto why = static_cast<DropReason>(a.rule);  // the record's rule carries the drop reason
  const TunnelDrop* drop = nullptr;
  for (const auto& t : kTunnelDrops)
    if (t.why == why) drop = &t;
  if (!drop) return false;  // a worker reports only the reasons above
  setKind(d.ev, drop->kind);
  d.ev.set_action("drop");
  d.ev.set_rule("esp");
  d.ev.clear_flow();
  const std::string addr = IpAddr::fromBytes(a.family, a.src).toString();
  d.ev.set_message(
      std::string(dropReasonHelp(why)) + ": " + std::to_string(a.count) + " packet(s) " +
      (why == DropReason::kTunnelSeqExhausted ? "toward the peer at " + addr : "from " + addr + " on the underlay"));
  d.key = keyOf(d, {addr});
  return true;
}

// Returns false when the record is not to be raised.
using Renderer = bool (*)(Draft&);
struct RendererRow {
  AlertRecord::Kind kind;
  Renderer render;
};

// In the order of AlertRecord::Kind (checked below): renderAlert indexes it by the record's kind.
constexpr RendererRow kRenderers[] = {
    {AlertRecord::kDeny, renderDeny},
    {AlertRecord::kAllowLog, renderAllowLog},
    {AlertRecord::kFlowTableFull, renderFlowTableFull},
    {AlertRecord::kSpoofMac, renderSpoofMac},
    {AlertRecord::kSpoofIp, renderSpoofIp},
    {AlertRecord::kFlowCut, renderFlowCut},
    {AlertRecord::kDataFinding, renderDataFinding},
    {AlertRecord::kInspectionGap, renderInspectionGap},
    {AlertRecord::kInspectionOverload, renderInspectionOverload},
    {AlertRecord::kTunnelDrop, renderTunnelDrop},
    {AlertRecord::kInspectionEvasion, renderInspectionEvasion},
    {AlertRecord::kInspectionOpaque, renderInspectionOpaque},
};
static_assert(rowsInEnumOrder(kRenderers, &RendererRow::kind) &&
                  std::size(kRenderers) == AlertRecord::kInspectionOpaque + 1,
              "kRenderers: one row per AlertRecord::Kind, in enum order");

}  // namespace

bool renderAlert(const AlertRecord& a, const AlertContext& ctx, proto::AlertEvent* ev, std::string* key) {
  if (a.kind >= std::size(kRenderers)) return false;
  Draft d{a, ctx, *ev, *key, {}, {}};
  fillCommon(d);
  return kRenderers[a.kind].render(d);
}

}  // namespace goldgate::dataplane

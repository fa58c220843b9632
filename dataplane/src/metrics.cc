// goldgate-switch's Prometheus metrics (docs/operations.md, "Metrics"): built on the control thread
// when a scrape asks (metrics::OwnerThreadMetrics), from the counters the workers publish anyway
// and from status(): the workers do nothing more per packet for them.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "goldgate/common/metrics_http.h"
#include "switch_impl.h"

namespace goldgate::dataplane {
namespace {

using metrics::counter;
using metrics::family;
using metrics::gauge;
using prometheus::MetricFamily;
using prometheus::MetricType;

bool tunnelReason(const std::string& r) { return r.rfind("tunnel_", 0) == 0 || r.rfind("esp_", 0) == 0; }

}  // namespace

std::vector<MetricFamily> SwitchImpl::metricFamilies() const {
  const proto::StatusResponse s = status();
  const CompiledPolicy* pol = publisher_.policy();
  std::vector<MetricFamily> out;
  auto one = [&](const std::string& name, const std::string& help, MetricType type, double v) {
    auto f = family(name, help, type);
    f.metric.push_back(type == MetricType::Counter ? counter(v) : gauge(v));
    out.push_back(std::move(f));
  };
  {
    auto f = family("goldgate_switch_info", "the switch's version (value 1)", MetricType::Gauge);
    f.metric.push_back(gauge(1, {{"version", s.version()}}));
    out.push_back(std::move(f));
  }
  one("goldgate_switch_policy_version", "version of the microsegment policy in force (rises with each reload)",
      MetricType::Gauge, static_cast<double>(s.policy_version()));
  one("goldgate_switch_uptime_seconds", "seconds since the switch started", MetricType::Gauge,
      static_cast<double>(s.uptime_seconds()));
  one("goldgate_switch_workers", "forwarding workers (one per lcore)", MetricType::Gauge,
      static_cast<double>(s.workers()));

  // Ports: physical ones and tunnel peers, by name and role.
  auto rxP = family("goldgate_switch_port_rx_packets_total", "packets received on the port", MetricType::Counter);
  auto rxB = family("goldgate_switch_port_rx_bytes_total", "bytes received on the port", MetricType::Counter);
  auto txP = family("goldgate_switch_port_tx_packets_total", "packets sent on the port", MetricType::Counter);
  auto txB = family("goldgate_switch_port_tx_bytes_total", "bytes sent on the port", MetricType::Counter);
  auto txE = family("goldgate_switch_port_tx_errors_total",
                    "packets the device refused on transmit (non-zero: the receiver or its queue is too slow)",
                    MetricType::Counter);
  auto link = family("goldgate_switch_port_up", "1 when the port's link is up (a tunnel: its next hop resolved)",
                     MetricType::Gauge);
  auto quar = family("goldgate_switch_port_quarantined", "1 when the port's VM is in quarantine", MetricType::Gauge);
  for (const auto& p : s.ports()) {
    std::vector<prometheus::ClientMetric::Label> l{{"port", p.name()}, {"role", p.role()}};
    rxP.metric.push_back(counter(static_cast<double>(p.rx_packets()), l));
    rxB.metric.push_back(counter(static_cast<double>(p.rx_bytes()), l));
    txP.metric.push_back(counter(static_cast<double>(p.tx_packets()), l));
    txB.metric.push_back(counter(static_cast<double>(p.tx_bytes()), l));
    txE.metric.push_back(counter(static_cast<double>(p.tx_errors()), l));
    link.metric.push_back(gauge(p.link_up() ? 1 : 0, l));
    quar.metric.push_back(gauge(p.quarantined() ? 1 : 0, l));
  }
  for (auto* f : {&rxP, &rxB, &txP, &txB, &txE, &link, &quar}) out.push_back(std::move(*f));

  // Drops: every reason switch-wide (so a rate starts from zero), and by port where non-zero.
  auto drops = family("goldgate_switch_drops_total",
                      "packets dropped, by reason (goldgatectl status explains each reason; goldgatectl trace shows "
                      "which rule or check)",
                      MetricType::Counter);
  for (const auto& d : s.drops())
    drops.metric.push_back(counter(static_cast<double>(d.value()), {{"reason", d.name()}}));
  out.push_back(std::move(drops));
  // By port: the reasons an alert watches from zero (a series that first appears already non-zero
  // shows no increase to Prometheus), and any other reason once seen.
  static constexpr DropReason kWatched[] = {
      DropReason::kPolicyDeny,         DropReason::kSpoofedMac,    DropReason::kSpoofedIp,    DropReason::kNdSpoofed,
      DropReason::kSpoofedFromOutside, DropReason::kPortClosed,    DropReason::kTaggedFromVm, DropReason::kRouterGuard,
      DropReason::kFlowTableFull,      DropReason::kPortFlowLimit, DropReason::kDataPolicy,   DropReason::kTxFull};
  auto portDrops = family("goldgate_switch_port_drops_total",
                          "packets dropped, by the port they came in on and the reason (the reasons alerts watch "
                          "always; others once seen)",
                          MetricType::Counter);
  const uint32_t nports = static_cast<uint32_t>(ports_.ids().size()) + (tunnel_ ? tunnel_->peerCount() : 0);
  for (uint32_t p = 0; p < nports && p < kMaxPorts; ++p) {
    for (int r = 1; r < static_cast<int>(DropReason::kCount); ++r) {
      uint64_t v = 0;
      for (const auto& w : workers_) v += w->stats().port_drops[p][r].load(std::memory_order_relaxed);
      const bool watched =
          std::find(std::begin(kWatched), std::end(kWatched), static_cast<DropReason>(r)) != std::end(kWatched);
      if (v || watched)
        portDrops.metric.push_back(
            counter(static_cast<double>(v), {{"port", pol->port(static_cast<uint16_t>(p)).name},
                                             {"reason", dropReasonName(static_cast<DropReason>(r))}}));
    }
  }
  out.push_back(std::move(portDrops));

  // Connection tracking.
  one("goldgate_switch_flows", "connections tracked now", MetricType::Gauge, static_cast<double>(s.flows_active()));
  one("goldgate_switch_flow_table_capacity", "connections the flow tables hold at most (all workers)",
      MetricType::Gauge, static_cast<double>(s.flow_capacity()));
  one("goldgate_switch_port_flow_limit", "connections one VM port may originate in one worker", MetricType::Gauge,
      static_cast<double>(shared_.port_flow_limit));
  std::map<std::string, const proto::Counter*> byName;
  for (const auto& c : s.counters()) byName[c.name()] = &c;
  auto fromStatus = [&](const std::string& name, const std::string& metric, MetricType type, double scale = 1) {
    auto it = byName.find(name);
    if (it == byName.end()) return;
    one(metric, it->second->help(), type, static_cast<double>(it->second->value()) * scale);
  };
  fromStatus("packets", "goldgate_switch_packets_total", MetricType::Counter);
  fromStatus("flows_created", "goldgate_switch_flows_created_total", MetricType::Counter);
  fromStatus("flows_expired", "goldgate_switch_flows_expired_total", MetricType::Counter);
  fromStatus("flows_cut", "goldgate_switch_flows_cut_total", MetricType::Counter);
  fromStatus("mac_learned", "goldgate_switch_mac_learned_total", MetricType::Counter);
  fromStatus("busy_cycles", "goldgate_switch_busy_cycles_total", MetricType::Counter);
  one("goldgate_switch_tsc_hz", "TSC ticks per second (busy_cycles_total / tsc_hz: busy seconds)", MetricType::Gauge,
      static_cast<double>(shared_.tsc_hz));

  // Rule hits: the most hit rules by name and place, the rest summed (bounded cardinality).
  {
    struct Hit {
      uint32_t id;
      uint64_t hits;
    };
    std::vector<Hit> hits;
    hits.reserve(pol->ruleCount());
    for (uint32_t id = 0; id < pol->ruleCount(); ++id) hits.push_back({id, pol->hits(id)});
    const size_t top = std::min<size_t>(sw_.metrics_rule_hits_top, hits.size());
    std::partial_sort(hits.begin(), hits.begin() + static_cast<long>(top), hits.end(),
                      [](const Hit& a, const Hit& b) { return a.hits > b.hits || (a.hits == b.hits && a.id < b.id); });
    auto f = family("goldgate_switch_rule_hits_total",
                    "new connections decided by each rule: the " + std::to_string(sw_.metrics_rule_hits_top) +
                        " most hit (metrics.rule_hits_top) by name and place, the rest as rule=\"(other)\"; "
                        "(default) is the default deny",
                    MetricType::Counter);
    uint64_t rest = 0;
    for (size_t i = 0; i < hits.size(); ++i) {
      if (i >= top) {
        rest += hits[i].hits;
        continue;
      }
      const RuleMeta& m = pol->rule(hits[i].id);
      const bool dflt = hits[i].id == 0;
      f.metric.push_back(counter(static_cast<double>(hits[i].hits),
                                 {{"rule", dflt ? "(default)" : m.name},
                                  {"source", dflt ? "" : m.loc.file + ":" + std::to_string(m.loc.line)},
                                  {"action", m.action == Action::kAllow ? "allow" : "deny"}}));
    }
    f.metric.push_back(counter(static_cast<double>(rest), {{"rule", "(other)"}, {"source", ""}, {"action", ""}}));
    out.push_back(std::move(f));
    one("goldgate_switch_rules", "rules in the policy in force (the default rule included)", MetricType::Gauge,
        static_cast<double>(pol->ruleCount()));
  }

  // Inspection.
  fromStatus("inspect_flows", "goldgate_switch_inspect_flows", MetricType::Gauge);
  fromStatus("inspect_bytes", "goldgate_switch_inspect_bytes_total", MetricType::Counter);
  fromStatus("inspect_decoded_bytes", "goldgate_switch_inspect_decoded_bytes_total", MetricType::Counter);
  fromStatus("decode_memory", "goldgate_switch_decode_memory_bytes", MetricType::Gauge);
  fromStatus("icmp_quotes_cut", "goldgate_switch_icmp_quotes_cut_total", MetricType::Counter);
  {
    auto f = family("goldgate_switch_findings_total",
                    "data-class findings, by class and the action the class policy took", MetricType::Counter);
    const auto& cls = publisher_.classifier();
    const uint32_t nclasses = cls ? static_cast<uint32_t>(cls->classes().size()) : 0;
    for (uint32_t c = 0; c < WorkerStats::kFindingClasses; ++c) {
      for (uint32_t a = 0; a < WorkerStats::kFindingActions; ++a) {
        uint64_t v = 0;
        for (const auto& w : workers_) v += w->stats().findings[c][a].load(std::memory_order_relaxed);
        // Every class in force from zero (as the drops by port above); another class once seen.
        if (!v && c >= nclasses) continue;
        const std::string name = cls && c < cls->classes().size() ? cls->classes()[c].name : "#" + std::to_string(c);
        f.metric.push_back(
            counter(static_cast<double>(v),
                    {{"class", name}, {"action", datapolicy::actionName(static_cast<datapolicy::Action>(a))}}));
      }
    }
    out.push_back(std::move(f));
  }

  // Tunnels.
  if (s.tunnels_size() > 0) {
    auto sealed = family("goldgate_switch_tunnel_packets_sealed_total", "inner packets sealed into ESP toward the peer",
                         MetricType::Counter);
    auto opened = family("goldgate_switch_tunnel_packets_opened_total", "inner packets opened from the peer's ESP",
                         MetricType::Counter);
    auto sealedB =
        family("goldgate_switch_tunnel_bytes_sealed_total", "inner bytes sealed toward the peer", MetricType::Counter);
    auto openedB =
        family("goldgate_switch_tunnel_bytes_opened_total", "inner bytes opened from the peer", MetricType::Counter);
    auto epoch = family("goldgate_switch_tunnel_key_epoch",
                        "key generation of the outbound SA (0: static keys; rises with each rekey)", MetricType::Gauge);
    auto keys = family("goldgate_switch_tunnel_keys", "1 when the peer has keys to seal with", MetricType::Gauge);
    for (const auto& t : s.tunnels()) {
      std::vector<prometheus::ClientMetric::Label> l{{"peer", t.peer()}};
      sealed.metric.push_back(counter(static_cast<double>(t.tx_packets()), l));
      opened.metric.push_back(counter(static_cast<double>(t.rx_packets()), l));
      sealedB.metric.push_back(counter(static_cast<double>(t.tx_bytes()), l));
      openedB.metric.push_back(counter(static_cast<double>(t.rx_bytes()), l));
      epoch.metric.push_back(gauge(static_cast<double>(t.epoch()), l));
      keys.metric.push_back(gauge(t.keys() == "tls (no keys)" ? 0 : 1, l));
    }
    for (auto* f : {&sealed, &opened, &sealedB, &openedB, &epoch, &keys}) out.push_back(std::move(*f));
  }
  {
    auto f =
        family("goldgate_switch_tunnel_failures_total",
               "ESP refused or not sealed, by reason (a subset of goldgate_switch_drops_total)", MetricType::Counter);
    for (const auto& d : s.drops())
      if (tunnelReason(d.name())) f.metric.push_back(counter(static_cast<double>(d.value()), {{"reason", d.name()}}));
    out.push_back(std::move(f));
  }

  // Alerts and their sinks.
  fromStatus("alerts_written", "goldgate_switch_alerts_written_total", MetricType::Counter);
  fromStatus("alerts_dropped", "goldgate_switch_alerts_dropped_total", MetricType::Counter);
  fromStatus("alerts_rate_limited", "goldgate_switch_alerts_rate_limited_total", MetricType::Counter);
  if (s.sinks_size() > 0) {
    auto up = family("goldgate_switch_alert_sink_up", "1 when the sink is connected and delivering", MetricType::Gauge);
    auto backlog = family("goldgate_switch_alert_sink_backlog_events",
                          "events spooled and not yet confirmed by the receiver (rising: the receiver is away)",
                          MetricType::Gauge);
    auto backlogB =
        family("goldgate_switch_alert_sink_backlog_bytes", "bytes spooled and not yet confirmed", MetricType::Gauge);
    auto sent = family("goldgate_switch_alert_sink_sent_total", "records handed to the transport (resends included)",
                       MetricType::Counter);
    auto conf = family("goldgate_switch_alert_sink_confirmed_total",
                       "records the receiver confirmed (TCP acknowledged, Kafka delivered)", MetricType::Counter);
    auto dropped =
        family("goldgate_switch_alert_sink_dropped_total",
               "records pushed out of a full spool (non-zero: events lost for this sink)", MetricType::Counter);
    auto rec = family("goldgate_switch_alert_sink_reconnects_total", "connections the sink had to make again",
                      MetricType::Counter);
    for (const auto& k : s.sinks()) {
      std::vector<prometheus::ClientMetric::Label> l{{"sink", k.name()}, {"transport", k.transport()}};
      up.metric.push_back(gauge(k.state() == "up" ? 1 : 0, l));
      backlog.metric.push_back(gauge(static_cast<double>(k.backlog_events()), l));
      backlogB.metric.push_back(gauge(static_cast<double>(k.backlog_bytes()), l));
      sent.metric.push_back(counter(static_cast<double>(k.sent()), l));
      conf.metric.push_back(counter(static_cast<double>(k.confirmed()), l));
      dropped.metric.push_back(counter(static_cast<double>(k.dropped()), l));
      rec.metric.push_back(counter(static_cast<double>(k.reconnects()), l));
    }
    for (auto* f : {&up, &backlog, &backlogB, &sent, &conf, &dropped, &rec}) out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace goldgate::dataplane

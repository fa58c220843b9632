// The switch's control API: requests from goldgatectl, served on the control thread (the socket
// they come over is ControlServer's, control_server.h).
#include <rte_cycles.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "switch_impl.h"

namespace goldgate::dataplane {

proto::Response SwitchImpl::handle(const proto::Request& req) {
  proto::Response resp;
  resp.set_ok(true);
  switch (req.cmd_case()) {
    case proto::Request::kStatus: *resp.mutable_status() = status(); break;
    case proto::Request::kFlows: *resp.mutable_flows() = flows(req.flows()); break;
    case proto::Request::kRules: *resp.mutable_rules() = rules(); break;
    case proto::Request::kReload: {
      auto r = reload();
      if (r) resp.set_message(*r);
      else resp.set_ok(false), resp.set_error(r.error().message);
      break;
    }
    case proto::Request::kTrace: return trace(req.trace());
    case proto::Request::kSetIdentities: *resp.mutable_identities() = setIdentities(req.set_identities()); break;
    case proto::Request::kQuarantine:
    case proto::Request::kRelease: {
      bool on = req.cmd_case() == proto::Request::kQuarantine;
      auto r = setQuarantine(on ? req.quarantine().target() : req.release().target(), on);
      if (r) resp.set_message(*r);
      else resp.set_ok(false), resp.set_error(r.error().message);
      break;
    }
    default: resp.set_ok(false); resp.set_error("unknown request (client newer than the switch?)");
  }
  return resp;
}

Result<std::string> SwitchImpl::reload() {
  // A rejected reload leaves the version in force: `what` is raised and returned with the reason.
  auto rejected = [this](const std::string& what, const Error& e) {
    const std::string version = std::to_string(publisher_.generation());
    proto::AlertEvent ev;
    alerts::setKind(ev, alerts::Kind::kPolicyReloadFailed);
    ev.set_action("keep");
    ev.set_policy_version(publisher_.generation());
    ev.set_message(what + " " + version + " stays in force: " + e.message);
    raise(ev, ev.kind() + "|" + e.message);
    return makeError(e.code, e.message + " (policy version " + version + " stays in force)");
  };
  auto segs = loadSegments(segmentsDirOf(sw_), sw_);
  if (!segs) return rejected("policy reload rejected, version", segs.error());
  // Data classes reload with the segments; a bad class file rejects the whole reload.
  std::shared_ptr<const datapolicy::Classifier> previous = publisher_.classifier();
  if (sw_.inspection.enabled) {
    auto c = publisher_.loadClassifier();
    if (!c) return rejected("data classes rejected, policy version", c.error());
    publisher_.setClassifier(std::move(*c));
  }
  // Quarantine outlives a reload; names no longer present are dropped from the set.
  if (auto r = publisher_.publish(*segs, publisher_.quarantined(), "reload"); !r) {
    publisher_.setClassifier(previous);
    return rejected("policy reload rejected, version", r.error());
  }
  segs_ = std::move(*segs);
  std::string msg = "policy version " + std::to_string(publisher_.generation()) + " in force (" +
                    std::to_string(segs_.rules.size()) + " rules, " + std::to_string(segs_.segments.size()) +
                    " segments from " + std::to_string(segs_.files.size()) + " files)";
  // goldgate.yaml is not read again: a segment it names that the files no longer define is said,
  // not refused (its setting applies to nothing until the switch restarts with an edited file).
  if (auto r = checkInspectionSegments(sw_, segs_); !r) {
    std::fprintf(stderr, "goldgate-switch: reload: %s\n", r.error().message.c_str());
    msg += "; note: " + r.error().message;
  }
  return msg;
}

Result<std::string> SwitchImpl::setQuarantine(const std::string& target, bool on) {
  std::vector<std::string> ports;
  auto next = publisher_.quarantined();
  for (const auto& p : sw_.ports) {
    if (!traits(p.role).vm_side || !(p.name == target || (!p.vm.empty() && p.vm == target))) continue;
    ports.push_back(p.name);
    // A port whose identity hostmon gives is quarantined by VM: the quarantine follows the VM
    // (through a restart, onto another port), not the port.
    const std::string key = p.hostmon && !p.vm.empty() ? quarantineKeyOfVm(p.vm) : p.name;
    if (on) {
      next.insert(key);
    } else {
      next.erase(key);
      next.erase(p.name);
    }
  }
  if (ports.empty()) {
    // A VM in quarantine that is not on any port now (stopped) can still be released.
    if (!on && next.erase(quarantineKeyOfVm(target))) {
      if (auto r = publisher_.saveQuarantine(next); !r) return r.error();
      publisher_.setQuarantined(std::move(next));
      return std::string("released ") + target + " (not on a port now)";
    }
    return makeError(Error::Code::kNotFound, "no VM or VM port named '" + target + "'");
  }
  if (next == publisher_.quarantined())
    return std::string("'") + target + "' is " + (on ? "already" : "not") + " in quarantine";
  // Persist first. A release that cannot be written is refused: the VM stays in quarantine (a
  // restart would put it back, and the operator must know). A quarantine that cannot be written
  // still takes effect now (fail closed) and is alerted: a restart would forget it.
  std::string unsaved;
  if (auto r = publisher_.saveQuarantine(next); !r) {
    if (!on) return r.error();
    unsaved = r.error().message;
  }
  if (auto r = publisher_.publish(segs_, next, on ? "quarantine " + target : "release " + target); !r) return r.error();
  publisher_.setQuarantined(std::move(next));
  if (!unsaved.empty()) {
    proto::AlertEvent ev;
    alerts::setKind(ev, alerts::Kind::kStateWriteFailed);
    ev.set_action("quarantine");
    ev.set_rule(sw_.quarantine_file);
    ev.set_message("quarantine of " + target + " is in force but not saved: " + unsaved +
                   "; a restart would release it");
    raise(ev, ev.kind() + "|" + target + "|" + std::to_string(publisher_.generation()));
  }
  for (const auto& p : ports) {
    proto::AlertEvent ev;
    alerts::setKind(ev, on ? alerts::Kind::kQuarantine : alerts::Kind::kRelease);
    ev.set_action(on ? "quarantine" : "release");
    ev.set_port(p);
    for (const auto& pc : sw_.ports)
      if (pc.name == p) ev.set_vm(pc.vm);
    ev.set_segment(
        on ? "quarantine"
           : publisher_.policy()->segmentName(publisher_.policy()->portSegment(static_cast<uint16_t>(
                 std::find_if(sw_.ports.begin(), sw_.ports.end(), [&](const PortConfig& c) { return c.name == p; }) -
                 sw_.ports.begin()))));
    ev.set_policy_version(publisher_.generation());
    ev.set_message(on ? "port '" + p + "' moved to the quarantine segment; its connections are cut"
                      : "port '" + p + "' released from quarantine");
    raise(ev, ev.kind() + "|" + p + "|" + std::to_string(publisher_.generation()));
  }
  std::string list;
  for (const auto& p : ports) list += (list.empty() ? "" : ", ") + p;
  return std::string(on ? "quarantined" : "released") + " " + target + " (port " + list + "), policy version " +
         std::to_string(publisher_.generation()) +
         (unsaved.empty() ? "" : "; NOT SAVED (" + unsaved + "): a restart would release it");
}

proto::StatusResponse SwitchImpl::status() const {
  proto::StatusResponse s;
  const CompiledPolicy* pol = publisher_.policy();
  s.set_version(GOLDGATE_VERSION);
  s.set_policy_version(publisher_.generation());
  s.set_uptime_seconds(
      static_cast<uint64_t>(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count()));
  s.set_workers(static_cast<uint32_t>(workers_.size()));
  uint64_t active = 0, cap = 0;
  for (const auto& w : workers_) {
    active += w->stats().flows_active.load();
    cap += w->flows().capacity();
  }
  s.set_flows_active(active);
  s.set_flow_capacity(cap);
  s.set_policy_source(segmentsDirOf(sw_));
  s.set_alert_file(sw_.alert_file);
  if (metrics_server_) s.set_metrics_url(metrics_server_->url());
  s.set_metrics_error(metrics_error_);
  for (const auto& st : alert_log_->sinkStatus()) {
    auto* k = s.add_sinks();
    k->set_name(st.name);
    k->set_transport(st.transport);
    k->set_address(st.address);
    k->set_format(st.format);
    k->set_state(st.state);
    k->set_last_error(st.last_error);
    k->set_backlog_events(st.backlog_events);
    k->set_backlog_bytes(st.backlog_bytes);
    k->set_sent(st.sent);
    k->set_confirmed(st.confirmed);
    k->set_dropped(st.dropped);
    k->set_filtered(st.filtered);
    k->set_reconnects(st.reconnects);
  }
  // A port's counters, summed over the workers (physical ports and peers alike).
  auto addPortCounters = [&](proto::PortStatus* ps, uint32_t port) {
    for (const auto& w : workers_) {
      const auto& c = w->stats().ports[port];
      ps->set_rx_packets(ps->rx_packets() + c.rx_packets.load());
      ps->set_tx_packets(ps->tx_packets() + c.tx_packets.load());
      ps->set_rx_bytes(ps->rx_bytes() + c.rx_bytes.load());
      ps->set_tx_bytes(ps->tx_bytes() + c.tx_bytes.load());
      ps->set_drops(ps->drops() + c.drops.load());
      ps->set_tx_errors(ps->tx_errors() + c.tx_errors.load());
    }
  };
  for (uint32_t p = 0; p < ports_.ids().size(); ++p) {
    auto* ps = s.add_ports();
    ps->set_name(sw_.ports[p].name);
    ps->set_devargs(sw_.ports[p].devargs);
    ps->set_vm(sw_.ports[p].vm);
    ps->set_identity(sw_.ports[p].hostmon ? "hostmon" : "config");
    ps->set_vm_uuid(sw_.ports[p].vm_uuid);
    if (sw_.ports[p].mac) ps->set_mac(sw_.ports[p].mac->toString());
    for (const auto& ip : sw_.ports[p].ips) ps->add_ips(ip.toString());
    ps->set_role(traits(sw_.ports[p].role).name);
    // The policy is only replaced on this (control) thread, so reading it here is safe.
    ps->set_segment(pol->segmentName(pol->portSegment(static_cast<uint16_t>(p))));
    ps->set_quarantined(pol->port(static_cast<uint16_t>(p)).quarantined);
    addPortCounters(ps, p);
    if (auto up = ports_.linkUp(static_cast<uint16_t>(p))) ps->set_link_up(*up);
  }
  if (tunnel_) {
    for (uint32_t i = 0; i < tunnel_->peerCount(); ++i) {
      TunnelPeer& tp = tunnel_->peer(i);
      const uint16_t port = tp.port;
      auto* ps = s.add_ports();
      ps->set_name(pol->port(port).name);
      ps->set_role("tunnel");
      ps->set_segment(pol->segmentName(pol->portSegment(port)));
      ps->set_link_up(tp.next_hop_mac.load() != 0);
      addPortCounters(ps, port);
      auto* t = s.add_tunnels();
      const PeerConfig& pc = sw_.tunnel.peers[i];
      t->set_peer(pc.name);
      t->set_underlay(pc.underlay.toString());
      t->set_next_hop(IpAddr::fromBytes(tp.family, tp.next_hop).toString());
      if (uint64_t m = tp.next_hop_mac.load()) {
        MacAddr mac;
        for (int b = 0; b < 6; ++b) mac.bytes[static_cast<size_t>(b)] = static_cast<uint8_t>(m >> (40 - 8 * b));
        t->set_next_hop_mac(mac.toString());
      }
      auto out = tunnel_->outboundOf(i);
      t->set_spi_out(out.spi);
      t->set_seq_out(out.seq);
      t->set_epoch(out.epoch);
      t->set_keys(pc.keys == PeerConfig::Keys::kTls ? (out.present ? "tls" : "tls (no keys)") : "static");
      t->set_tx_packets(tp.tx_packets.load());
      t->set_rx_packets(tp.rx_packets.load());
      t->set_tx_bytes(tp.tx_bytes.load());
      t->set_rx_bytes(tp.rx_bytes.load());
      t->set_aead(
          std::string(crypto::aeadEngineName(tunnel_->engine())) +
          (tunnel_->engine() == crypto::AeadEngine::kIpsecMb ? std::string(" (") + crypto::ipsecMbArch() + ")" : ""));
      for (const auto& [spi, epoch] : tunnel_->inboundOf(i)) t->add_spi_in(spi);
    }
  }
  for (int r = 1; r < static_cast<int>(DropReason::kCount); ++r) {
    uint64_t v = 0;
    for (const auto& w : workers_) v += w->stats().drops[r].load();
    auto* c = s.add_drops();
    c->set_name(dropReasonName(static_cast<DropReason>(r)));
    c->set_value(v);
    c->set_help(dropReasonHelp(static_cast<DropReason>(r)));
  }
  auto counter = [&](const char* name, const char* help, auto get) {
    uint64_t v = 0;
    for (const auto& w : workers_) v += get(w->stats()).load();
    auto* c = s.add_counters();
    c->set_name(name);
    c->set_value(v);
    c->set_help(help);
  };
  counter(
      "packets", "packets received and processed by the workers", [](WorkerStats & st) -> auto& { return st.packets; });
  counter(
      "flows_created", "connections admitted by the policy",
      [](WorkerStats & st) -> auto& { return st.flows_created; });
  counter(
      "flows_expired", "connections removed after their idle timeout",
      [](WorkerStats & st) -> auto& { return st.flows_expired; });
  counter(
      "flows_cut", "connections cut because a reload or quarantine no longer allows them",
      [](WorkerStats & st) -> auto& { return st.flows_cut; });
  counter(
      "mac_learned", "MAC addresses learned or moved on unbound ports",
      [](WorkerStats & st) -> auto& { return st.mac_learned; });
  counter(
      "alerts_rate_limited",
      "low-priority alerts (deny, spoofing, flow table full) over a port's share, not raised (non-zero: a port floods; "
      "see alerts.rate_limited events)",
      [](WorkerStats & st) -> auto& { return st.alerts_rate_limited; });
  counter(
      "alerts_dropped",
      "alerts lost because the packet path outran the alert writer (non-zero: see alerts.dropped events)",
      [](WorkerStats & st) -> auto& { return st.alerts_dropped; });
  counter(
      "icmp_quotes_cut",
      "ICMP / ICMPv6 errors between inspected zones cut to the quoted header and 8 bytes (what an error needs)",
      [](WorkerStats & st) -> auto& { return st.icmp_quotes_cut; });
  counter(
      "inspect_flows", "connections whose payload is being inspected now",
      [](WorkerStats & st) -> auto& { return st.inspect_flows; });
  counter(
      "inspect_bytes", "payload bytes inspected (each stream byte once)",
      [](WorkerStats & st) -> auto& { return st.inspect_bytes; });
  counter(
      "inspect_decoded_bytes",
      "bytes taken out of HTTP bodies, compression, encodings, archives and documents, and inspected too",
      [](WorkerStats & st) -> auto& { return st.inspect_decoded_bytes; });
  counter(
      "decode_memory", "bytes of content-decoder state held now (windows, buffers; bounded by inspection.decode)",
      [](WorkerStats & st) -> auto& { return st.decode_memory; });
  counter(
      "decode_memory_peak", "the most content-decoder state held at once",
      [](WorkerStats & st) -> auto& { return st.decode_memory_peak; });
  counter(
      "busy_cycles", "TSC cycles the workers spent on loop iterations that had packets",
      [](WorkerStats & st) -> auto& { return st.busy_cycles; });
  auto* fw = s.add_counters();
  fw->set_name("alert_followers");
  fw->set_value(control_.followers());
  fw->set_help("goldgatectl alerts --follow sessions connected now");
  auto* fd = s.add_counters();
  fd->set_name("alert_followers_dropped");
  fd->set_value(control_.followersDropped());
  fd->set_help("followers disconnected because they did not keep up (the alert file has every event)");
  auto* aw = s.add_counters();
  aw->set_name("alerts_written");
  aw->set_value(alert_log_->written());
  aw->set_help("alert events written to " + alert_log_->path());
  return s;
}

bool SwitchImpl::askWorker(Worker& w, Mailbox::Cmd cmd, const FlowQuery& q, std::vector<FlowSnapshot>* out,
                           uint64_t* matched) {
  Mailbox& mb = w.mailbox();
  mb.cmd = cmd;
  mb.query = q;
  mb.out = out;
  mb.state.store(Mailbox::State::kRequested, std::memory_order_release);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  // Stopped workers serve nothing: a request then is withdrawn at once, not after the deadline
  // (the control thread keeps serving while the switch shuts down).
  while (mb.state.load(std::memory_order_acquire) != Mailbox::State::kDone &&
         std::chrono::steady_clock::now() < deadline && !workers_stop_.load(std::memory_order_relaxed))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  if (mb.state.load(std::memory_order_acquire) != Mailbox::State::kDone) {
    // The worker has not picked the request up (it is stopped): withdraw it. If it is serving it
    // right now (kServing), wait for it: `out` must outlive the copy.
    auto expected = Mailbox::State::kRequested;
    if (mb.state.compare_exchange_strong(expected, Mailbox::State::kIdle)) return false;
    while (mb.state.load(std::memory_order_acquire) != Mailbox::State::kDone)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  *matched = mb.matched;
  mb.state.store(Mailbox::State::kIdle, std::memory_order_release);
  return true;
}

proto::FlowsResponse SwitchImpl::flows(const proto::FlowFilter& f) {
  proto::FlowsResponse out;
  const CompiledPolicy* pol = publisher_.policy();
  FlowQuery q;
  q.limit = f.limit() ? f.limit() : 1000;
  q.protocol = static_cast<uint8_t>(f.protocol());
  if (!f.port().empty()) {
    q.port = -2;  // a name that matches no port matches no flow
    for (uint32_t p = 0; p < sw_.ports.size(); ++p)
      if (sw_.ports[p].name == f.port()) q.port = static_cast<int>(p);
  }
  if (!f.ip().empty()) {
    auto ip = IpAddr::parse(f.ip());
    if (ip) {
      q.family = ip->family;
      std::memcpy(q.ip, ip->bytes.data(), 16);
    } else {
      q.port = -2;
    }
  }
  uint64_t hz = rte_get_tsc_hz(), now = rte_rdtsc();
  uint64_t total = 0;
  for (const auto& w : workers_) {
    std::vector<FlowSnapshot> snaps;
    snaps.reserve(q.limit);
    uint64_t matched = 0;
    if (!askWorker(*w, Mailbox::Cmd::kDumpFlows, q, &snaps, &matched)) continue;
    total += matched;
    for (const auto& s : snaps) {
      if (static_cast<uint32_t>(out.flows_size()) >= q.limit) break;
      auto* e = out.add_flows();
      const FlowKey& k = s.key;
      const Flow& fl = s.flow;
      bool o = fl.orig_is_a;
      auto ep = [&](const uint8_t* a, uint16_t port) {
        std::string ip = IpAddr::fromBytes(k.family, a).toString();
        if (k.family == 6) ip = "[" + ip + "]";
        return ip + ":" + std::to_string(port);
      };
      e->set_protocol(protocolName(k.protocol));
      e->set_src(ep(o ? k.addr_a : k.addr_b, o ? k.port_a : k.port_b));
      e->set_dst(ep(o ? k.addr_b : k.addr_a, o ? k.port_b : k.port_a));
      e->set_state(flowStateName(fl.state));
      e->set_in_port(fl.port[0] < sw_.ports.size() ? sw_.ports[fl.port[0]].name : "?");
      e->set_rule(pol->generation() == fl.policy_gen && fl.rule < pol->ruleCount()
                      ? pol->rule(fl.rule).name
                      : "(v" + std::to_string(fl.policy_gen) + ")");
      e->set_packets_orig(fl.packets[0]);
      e->set_packets_reply(fl.packets[1]);
      e->set_bytes_orig(fl.bytes[0]);
      e->set_bytes_reply(fl.bytes[1]);
      e->set_age_ms(now > fl.created_tsc ? (now - fl.created_tsc) * 1000 / hz : 0);
      e->set_idle_ms(now > fl.last_tsc ? (now - fl.last_tsc) * 1000 / hz : 0);
      e->set_policy_version(fl.policy_gen);
      e->set_worker(w->id());
      if (s.classes && publisher_.classifier()) {
        const auto& cls = publisher_.classifier()->classes();
        for (uint32_t i = 0; i < 64 && i < cls.size(); ++i)
          if ((s.classes >> i) & 1) e->add_classes(cls[i].name);
      }
    }
  }
  out.set_total_matching(total);
  out.set_truncated(total > static_cast<uint64_t>(out.flows_size()));
  return out;
}

proto::RulesResponse SwitchImpl::rules() const {
  proto::RulesResponse out;
  const CompiledPolicy* pol = publisher_.policy();
  out.set_policy_version(pol->generation());
  for (uint32_t id = 0; id < pol->ruleCount(); ++id) {
    const RuleMeta& m = pol->rule(id);
    auto* r = out.add_rules();
    r->set_name(m.name);
    r->set_file(m.loc.file);
    r->set_line(static_cast<uint32_t>(m.loc.line));
    r->set_from(m.from);
    r->set_to(m.to);
    r->set_protocol(m.protocol);
    r->set_ports(m.ports);
    r->set_action(std::string(m.action == Action::kAllow ? "allow" : "deny") + (m.log ? "-log" : ""));
    r->set_hits(pol->hits(id));
  }
  return out;
}

}  // namespace goldgate::dataplane

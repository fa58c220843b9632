#include "trace_cmd.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "format.h"
#include "goldgate/dataplane/control_client.h"
#include "output.h"

namespace goldgate::cli {
namespace {

Result<proto::TraceResponse> ask(const std::string& socket, const proto::TraceRequest& t) {
  proto::Request req;
  *req.mutable_trace() = t;
  auto r = dataplane::callSwitch(socket, req);
  if (!r) return r.error();
  if (!r->ok()) return makeError(Error::Code::kInvalidArgument, r->error());
  return r->trace();
}

}  // namespace

CLI::App* addTraceCommand(CLI::App& app, TraceOptions& o) {
  auto* t = app.add_subcommand(
      "trace",
      "why a packet is forwarded or dropped: a described packet through the policy in force (--in-port, --dst, ...), "
      "or the next packets on a port as the switch handles them (--capture PORT)");
  auto* p = &o.packet;
  t->add_option_function<std::string>(
      "--in-port", [p](const std::string& v) { p->set_in_port(v); }, "port the described packet arrives on");
  t->add_option_function<std::string>(
      "--src", [p](const std::string& v) { p->set_src(v); }, "source address (default: the port's own)");
  t->add_option_function<std::string>(
      "--dst", [p](const std::string& v) { p->set_dst(v); }, "destination address");
  t->add_option_function<std::string>(
      "--proto", [p](const std::string& v) { p->set_protocol(v); },
      "tcp (default), udp, icmp, icmpv6, sctp or a number");
  t->add_option_function<uint32_t>(
      "--sport", [p](uint32_t v) { p->set_sport(v); }, "source port (or ICMP echo id)");
  t->add_option_function<uint32_t>(
      "--dport", [p](uint32_t v) { p->set_dport(v); }, "destination port");
  t->add_option_function<std::string>(
      "--flags", [p](const std::string& v) { p->set_tcp_flags(v); },
      "TCP flags as letters: S (default), SA, A, F, R, P, U");
  t->add_option_function<std::string>(
      "--src-mac", [p](const std::string& v) { p->set_src_mac(v); }, "source MAC (default: the port's bound MAC)");
  t->add_option_function<std::string>(
      "--dst-mac", [p](const std::string& v) { p->set_dst_mac(v); },
      "destination MAC (default: the port bound to --dst, or the gateway)");
  t->add_option_function<uint32_t>(
      "--payload", [p](uint32_t v) { p->set_payload(v); }, "payload bytes (zeros)");
  t->add_option_function<uint32_t>(
      "--icmp-type", [p](uint32_t v) { p->set_icmp_type(v); }, "ICMP type (default: echo request)");
  t->add_option_function<uint32_t>(
      "--vlan", [p](uint32_t v) { p->set_vlan(v); }, "802.1Q tag");
  t->add_option("--capture", o.capture, "record the next packets arriving on this port instead");
  t->add_option("-n,--count", o.count, "--capture: packets to record (1-64)")->capture_default_str();
  t->add_option("--match-proto", o.capture_proto, "--capture: only this protocol");
  t->add_option("--match-host", o.capture_host, "--capture: only packets to or from this address");
  t->add_option("--match-port", o.capture_port, "--capture: only packets to or from this L4 port");
  t->add_option("--timeout", o.timeout_s, "--capture: give up after this many seconds")->capture_default_str();
  return t;
}

std::string formatTrace(const proto::TraceResult& t) {
  std::ostringstream o;
  o << "trace (" << t.source() << "): " << t.packet() << "\n";
  o << "  in on " << t.in_port() << ", policy version " << t.policy_version();
  if (t.source() == "captured") o << ", worker " << t.worker() << ", " << t.age_us() / 1000 << " ms ago";
  o << "\n";
  size_t w = 0;
  for (const auto& s : t.steps()) w = std::max(w, s.step().size());
  size_t rw = 0;
  for (const auto& s : t.steps()) rw = std::max(rw, s.result().size());
  int n = 0;
  for (const auto& s : t.steps()) {
    char num[16];
    std::snprintf(num, sizeof num, "%2d", ++n);
    o << "  " << num << " " << s.step() << std::string(w - s.step().size() + 2, ' ') << s.result()
      << std::string(rw - s.result().size() + 2, ' ') << s.detail() << "\n";
  }
  std::string verdict = t.verdict();
  for (auto& c : verdict) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  o << "verdict: " << verdict;
  if (!t.reason().empty()) o << " (" << t.reason() << ")";
  if (t.out_ports_size() > 0) {
    o << " to";
    for (const auto& p : t.out_ports()) o << " " << p;
  }
  o << "\n";
  if (!t.reason_help().empty()) o << "  why: " << t.reason_help() << "\n";
  if (t.has_rule()) {
    const auto& r = t.rule();
    o << "  rule: " << r.name();
    if (!r.file().empty()) o << " at " << r.file() << ":" << r.line();
    if (!r.action().empty()) o << " (" << r.action() << ")";
    o << "\n";
  }
  return o.str();
}

int runTrace(const TraceOptions& o, const std::string& socket, bool json) {
  auto fail = [](const std::string& why) {
    std::fprintf(stderr, "goldgatectl: %s\n", why.c_str());
    return 1;
  };
  auto printOne = [&](const proto::TraceResult& r) {
    if (json) printJson(r);
    else std::cout << formatTrace(r);
    std::cout.flush();
  };
  if (o.capture.empty()) {
    if (o.packet.in_port().empty() || o.packet.dst().empty())
      return fail("trace: --in-port and --dst describe a packet (or --capture PORT records real ones)");
    proto::TraceRequest t;
    *t.mutable_packet() = o.packet;
    auto r = ask(socket, t);
    if (!r) return fail(r.error().message);
    for (const auto& x : r->results()) printOne(x);
    return 0;
  }
  if (o.count < 1 || o.count > 64) return fail("trace: --count is 1-64");
  proto::TraceRequest arm;
  arm.mutable_arm()->set_port(o.capture);
  const auto protocol = protocolNumber(o.capture_proto);
  if (!protocol)
    return fail("trace: --match-proto: '" + o.capture_proto + "' is not tcp, udp, icmp, icmpv6, sctp or a number");
  arm.mutable_arm()->set_protocol(*protocol);
  arm.mutable_arm()->set_host(o.capture_host);
  arm.mutable_arm()->set_l4_port(o.capture_port);
  arm.set_count(o.count);
  if (auto r = ask(socket, arm); !r) return fail(r.error().message);
  // Said on standard error in both forms: a script may wait for it before sending.
  std::fprintf(stderr, "goldgatectl: recording the next %u packets on %s (--timeout %.0f s)\n", o.count,
               o.capture.c_str(), o.timeout_s);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
  proto::TraceRequest collect;
  collect.set_collect(true);
  uint32_t seen = 0;
  for (;;) {
    auto r = ask(socket, collect);
    if (!r) return fail(r.error().message);
    for (const auto& x : r->results()) {
      if (seen >= o.count) break;
      printOne(x);
      ++seen;
    }
    if (seen >= o.count || !r->armed()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      proto::TraceRequest stop;
      stop.set_disarm(true);
      (void)ask(socket, stop);
      std::fprintf(stderr, "goldgatectl: trace: %u of %u packets seen on %s in %.0f s\n", seen, o.count,
                   o.capture.c_str(), o.timeout_s);
      return 3;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

}  // namespace goldgate::cli

// goldgatectl trace: why the switch forwarded or dropped a packet, step by step, for a packet
// described on the command line (run through the policy in force, never forwarded) or for the
// next packets on a port (recorded by the worker as it forwards them).
#pragma once

#include <string>

#include "control.pb.h"

namespace CLI {
class App;
}

namespace goldgate::cli {

struct TraceOptions {
  proto::TracePacket packet;
  std::string capture;        // a port: capture instead of describing
  std::string capture_proto;  // filter: tcp, udp, icmp, icmpv6 or a number
  std::string capture_host;   // filter: either endpoint
  uint32_t capture_port = 0;  // filter: either L4 port
  uint32_t count = 10;
  double timeout_s = 10;
};

/// Adds `trace` to `app`; returns the subcommand (for `if (*sub)`).
CLI::App* addTraceCommand(CLI::App& app, TraceOptions& o);

/// Runs it against the switch at `socket`. Exit code: 0 traced (a described packet, or the wanted
/// captures), 1 the switch refused or did not answer, 3 a capture ended by --timeout with fewer
/// packets than asked (those seen are printed).
int runTrace(const TraceOptions& o, const std::string& socket, bool json);

/// A trace result as text (the one renderer of both sources). Pure.
std::string formatTrace(const proto::TraceResult& t);

}  // namespace goldgate::cli

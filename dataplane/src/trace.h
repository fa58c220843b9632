// goldgatectl trace (docs/operations.md, "Tracing"): what the switch decided for one packet, step
// by step. Internal to dataplane/.
//
// Two sources give the same record: a worker recording the next packets on a port that match a
// filter while it forwards them (Worker::trace*, armed and collected through its mailbox), and the
// control thread explaining a described packet against the policy in force without forwarding it
// (SwitchImpl::explain, trace_control.cc). One renderer turns either into the answer.
#pragma once

#include <cstdint>
#include <string>

#include "control.pb.h"
#include "goldgate/dataplane/packet.h"
#include "goldgate/dataplane/policy.h"

namespace goldgate::dataplane {

/// One decision taken for a traced packet.
enum class TraceKind : uint8_t {
  kParsed,           // the headers read (the record's summary)
  kFlowHit,          // a tracked connection: a = FlowState, value = its rule, aux = its policy version
  kFlowMiss,         // no tracked connection: a new one
  kFlowReopened,     // a SYN on a closed connection's 4-tuple: decided afresh
  kFlowRevalidated,  // admitted under an older policy, allowed by this one: value = rule
  kDestination,      // new connection: port = where its destination is
  kRule,             // new connection: value = the rule that matched (0: default), a = 1 allow
  kFlowCreated,      // the connection entered the flow table
  kInspected,        // payload inspection: a = 0 pass, 1 dropped, 2 reset toward both ends
  kFragmentFollows,  // a later fragment follows its first fragment: port = where it went
  kOutput,           // sent on port `port`
  kDrop,             // dropped: value = DropReason
  kNote,             // explained packets only: value = TraceNote
};

/// What the control thread adds to a described packet's record.
enum class TraceNote : uint8_t {
  kInspectedContent,  // the connection is inspected: its content meets the data classes
  kWouldCreateFlow,   // a packet like it creates the connection
  kPeerWithoutKeys,   // output toward a tunnel peer whose keys are not agreed yet
};

struct TraceStepRecord {
  TraceKind kind;
  uint8_t a = 0;
  uint16_t port = 0;
  uint32_t value = 0;
  uint64_t aux = 0;
};

/// One traced packet: its headers and the decisions, in the order taken.
struct TraceRecord {
  static constexpr uint32_t kMaxSteps = 14;
  uint64_t tsc = 0;
  uint64_t policy_gen = 0;
  uint32_t len = 0;
  uint16_t in = 0;
  uint8_t worker = 0;
  uint8_t nsteps = 0;
  bool parsed = false;
  uint8_t family = 0, protocol = 0, tcp_flags = 0, icmp_type = 0;
  uint16_t flags = 0, sport = 0, dport = 0, vlan = 0;
  uint8_t src[16] = {}, dst[16] = {};
  uint8_t src_mac[6] = {}, dst_mac[6] = {};
  TraceStepRecord steps[kMaxSteps];
  void add(TraceKind k, uint8_t a = 0, uint16_t port = 0, uint32_t value = 0, uint64_t aux = 0) {
    if (nsteps < kMaxSteps) steps[nsteps++] = TraceStepRecord{k, a, port, value, aux};
  }
};

/// Which packets a capture records (the port is the caller's check).
struct TraceFilter {
  int port = -1;
  uint8_t protocol = 0;  // 0 = any
  uint8_t family = 0;    // with host
  uint8_t host[16] = {};
  uint16_t l4_port = 0;  // either port, 0 = any
  bool portOnly() const { return protocol == 0 && family == 0 && l4_port == 0; }
};

/// Whether parsed packet `pm` is one the filter takes. Pure.
bool traceMatches(const TraceFilter& f, const PacketMeta& pm);

/// Fills the record's summary from a parsed packet of `len` bytes.
void traceSummarize(const PacketMeta& pm, uint32_t len, TraceRecord* r);

/// The record as the operator reads it: steps in words, the verdict, the rule (its file and line),
/// the drop reason and what it means. `pol` is the policy in force: a rule recorded under another
/// policy version is named by number only. `portName` names a switch port. Control thread.
proto::TraceResult renderTrace(const TraceRecord& r, const CompiledPolicy& pol, const char* source);

}  // namespace goldgate::dataplane

// Judging one VM's observed state against its manifest: every process, module, kernel fact,
// listener, switch flow and data class the collectors saw is compared with what the birth
// certificate declares. The result is one row per item (expected next to observed) and the
// deviations, each with its kind (the manifest's response keys), severity, evidence and trust.
// Pure functions: no I/O, no clock; the attestation service (attestation.h) calls them after
// every poll.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "goldgate/attest/manifest.h"
#include "goldgate/common/net_types.h"
#include "guest_state.h"
#include "hostmon.pb.h"
#include "manifest.pb.h"

namespace goldgate::hostmon {

/// One thing the VM does that its manifest does not describe.
struct Deviation {
  std::string kind;       // unknown_executable, executable_hash, …, agent_silent (manifest.proto)
  uint32_t severity = 5;  // 0..10 as alert events carry it
  std::string
      subject;  // what it is about ("/tmp/x", "tcp/4444", "outbound tcp 10.0.0.9:25"): with kind, the aggregation key
  std::string expected;  // what the manifest says
  std::string observed;  // the evidence
  std::string source;    // qemu-agent, memory-peek, goldgate-switch
  Trust trust = Trust::kGuestReported;
  int64_t observed_ns = 0;
};

/// Who an address belongs to, as hostmon knows it: the VMs' addresses (their agents' reports)
/// with their application and segment, and the named zones of the host's configuration.
struct PeerDirectory {
  struct Owner {
    std::string vm, app, segment;
  };
  std::map<std::string, Owner> by_ip;  // "10.0.0.5" → owner
  struct Zone {
    std::string name;
    std::vector<Cidr> cidrs;
  };
  std::vector<Zone> zones;
  /// Does `peer` (a manifest connection's other end) cover the address `ip`? `external` is any
  /// address that belongs to no VM hostmon knows and to no configured zone.
  bool covers(const proto::ManifestPeer& peer, const std::string& ip) const;
};

/// The result of one judgement.
struct Judgement {
  std::vector<proto::AttestItem> items;  // expected next to observed
  std::vector<Deviation> deviations;
};

/// Judges `state` against `m`. Only what has been observed is judged (a VM whose agent has not
/// answered yet has no process deviations). Any thread.
Judgement judge(const proto::Manifest& m, const GuestState& state, const PeerDirectory& peers);

/// The severity of a deviation kind (0..10): that of its red flag's row in the event catalog
/// (attest.<kind>, goldgate/alerts/kinds.h). And a severity's name (low, medium, high, critical).
uint32_t deviationSeverity(const std::string& kind);
const char* severityName(uint32_t severity);

/// The response actions the manifest asks for on `kind` (its `responses`, else the default).
using attest::responseActions;

/// Lower-case hex SHA-256 of `data`.
std::string sha256Hex(const std::string& data);

/// "tcp6" → "tcp"; "udp6" → "udp".
std::string protoFamily(const std::string& proto);

/// Does a port list (empty: any) contain `port`?
bool portsCover(const google::protobuf::RepeatedPtrField<proto::PortRange>& ports, uint32_t port);

/// The manifest's one-line description of a connection ("tcp 5432 to app shop-db").
std::string describeConnection(const proto::ManifestConnection& c, bool inbound);
std::string describePeer(const proto::ManifestPeer& p);

/// "10.0.0.5:443" → ("10.0.0.5", 443); "[fd00::1]:22" → ("fd00::1", 22).
std::pair<std::string, uint32_t> splitEndpoint(const std::string& ep);

}  // namespace goldgate::hostmon

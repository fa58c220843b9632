// Configuration files of goldgate-switch, parsed once into validated, immutable structs.
// Every error names the file and line: "configs/segments/web.yaml:12: unknown segment 'dbb'".
#pragma once

#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "goldgate/alerts/sink_config.h"
#include "goldgate/common/enum_table.h"
#include "goldgate/common/net_types.h"
#include "goldgate/common/result.h"

namespace goldgate::dataplane {

/// Where a definition came from, for messages.
struct SourceLoc {
  std::string file;
  int line = 0;
  std::string str() const { return file + ":" + std::to_string(line); }
};

enum class PortRole : uint8_t { kVm, kUplink, kTunnel };  // kTunnel: a peer gateway (tunnel.peers)

/// What a port of each role is, one row per role in enum order: code asks the traits, not the
/// role, wherever the question is "a VM's own port?" or "the outside?".
struct PortRoleTraits {
  PortRole role;
  const char* name;  // as goldgate.yaml (`role:`) and `goldgatectl status` spell it
  bool vm_side;      // a VM's own port: bindings, anti-spoofing, quarantine, identity from hostmon
  bool outside;      // beyond the VMs (an uplink or a peer gateway): inspection limits follow the VM side
  bool configured;   // written in goldgate.yaml's ports (peer gateways come from tunnel.peers)
};
inline constexpr PortRoleTraits kPortRoles[] = {
    {PortRole::kVm, "vm", true, false, true},
    {PortRole::kUplink, "uplink", false, true, true},
    {PortRole::kTunnel, "tunnel", false, true, false},
};
static_assert(rowsInEnumOrder(kPortRoles, &PortRoleTraits::role) && std::size(kPortRoles) == 3,
              "kPortRoles: one row per PortRole, in enum order");
inline const PortRoleTraits& traits(PortRole r) { return kPortRoles[static_cast<size_t>(r)]; }

struct PortConfig {
  std::string name;
  std::string devargs;
  PortRole role = PortRole::kVm;
  std::string vm;                             // VM name ("" for uplinks)
  std::map<std::string, std::string> labels;  // VM labels used for segment membership
  std::optional<MacAddr> mac;                 // bound source MAC (anti-spoofing); none = learn, unchecked
  std::vector<IpAddr> ips;                    // bound source IPs (anti-spoofing)
  // identity: hostmon — vm, labels, mac and ips come from goldgate-hostmon (SetIdentities); the
  // port is closed until they do. The fields below are only ever set on such ports.
  bool hostmon = false;
  std::string vm_uuid;
  std::string segment;  // the VM's own segment from its metadata ("" = membership by the segment files)
  SourceLoc loc;
};

/// Connection-tracking idle timeouts in seconds.
struct Timeouts {
  uint32_t tcp_syn = 30;
  uint32_t tcp_established = 7440;
  uint32_t tcp_closing = 120;
  uint32_t tcp_closed = 10;
  uint32_t udp_single = 30;
  uint32_t udp_both = 180;
  uint32_t icmp = 30;
  uint32_t other = 60;
};

enum class SwitchMode : uint8_t {
  kSecure,  // microsegments, connection tracking, anti-spoofing (the product)
  kL2,      // learning L2 switch with anti-spoofing only: a benchmark baseline, never for production
};

/// A named set of address prefixes (goldgate.yaml `zones`); data policy is written per source
/// and destination zone. Longest prefix wins when zones overlap.
struct ZoneConfig {
  std::string name;
  std::vector<Cidr> cidrs;
  bool trusted = false;
  SourceLoc loc;
};

/// Payload inspection (goldgate.yaml `inspection`). A limit is -1 (off), 0 (the whole flow) or
/// N (the first N bytes of each direction).
/// Content decoding under inspection (goldgate.yaml `inspection.decode`; datapolicy/decode.h).
struct DecodeConfig {
  bool enabled = true;
  uint32_t depth = 6;                   // layers nested
  uint64_t max_output = 64ull << 20;    // decoded bytes per flow direction
  uint32_t max_ratio = 100;             // decoded / received bytes of a direction
  uint32_t memory = 256 << 10;          // decoder state per flow direction
  uint64_t memory_total = 64ull << 20;  // decoder state of one worker in all
};

/// What cannot be read, by category (goldgate.yaml `inspection.unreadable`).
enum class Unreadable : uint8_t { kTls, kSsh, kEncrypted, kDecodeFailed, kOverBudget };
constexpr int kUnreadableCount = 5;
/// "tls", "ssh", "encrypted", "decode-failed", "over-budget".
const char* unreadableCategoryName(Unreadable u);

/// A rule for content that cannot be read, from zone `from` to zone `to` (names, `any`,
/// `trusted`, `untrusted`), of the categories in `content`; for TLS optionally only toward the
/// server names in `server_names` ("host" or "*.domain"). First match wins.
struct UnreadableRule {
  std::string from = "any", to = "any";
  uint8_t content = 0;  // bit per Unreadable
  std::vector<std::string> server_names;
  enum class Action : uint8_t { kAllow, kAlert, kBlock } action = Action::kAlert;
  int line = 0;
};

struct InspectionConfig {
  bool enabled = false;
  std::string classes_dir;  // absolute, or relative to the config file's folder
  std::string cache_dir;    // compiled-database cache ("" = none)
  int64_t default_limit = 0;
  std::map<std::string, int64_t> segments;   // per segment name
  std::map<std::string, int> segment_lines;  // where each segment name is, in the config file
  std::map<std::string, int64_t> ports;      // per port name (wins over the segment)
  uint32_t max_flows = 0;                    // inspected flows per worker (0 = the flow table's size)
  uint32_t hold_bytes = 256 * 1024;          // out-of-order bytes held per direction
  uint64_t hold_total_bytes = 64ull << 20;   // out-of-order bytes held by one worker in all
  DecodeConfig decode;
  std::vector<UnreadableRule> unreadable;
};

/// An address with its prefix length on a link ("192.0.2.1/24"): host bits may be set.
struct IfAddr {
  IpAddr addr;
  uint8_t length = 0;
};

/// A peer gateway across the untrusted underlay (goldgate.yaml `tunnel.peers`). Inside the switch
/// it is a port of its own (role kTunnel, after the physical ports): segments name it like a
/// port, and what it sends must come from the zones behind it.
struct PeerConfig {
  std::string name;
  IpAddr underlay;                            // its underlay address (the outer destination)
  std::vector<std::string> zones;             // zones behind it (names in `zones`)
  std::vector<Cidr> prefixes;                 // ... resolved to their prefixes
  std::map<std::string, std::string> labels;  // for segment membership
  std::optional<MacAddr> next_hop_mac;        // fixed underlay next-hop MAC (no ARP / ND for it)
  enum class Keys : uint8_t { kStatic, kTls } keys = Keys::kStatic;
  std::string control;  // kTls: "host:port" of its key service
  std::string pin;      // kTls: SHA-256 of its certificate (hex), instead of the CA
  SourceLoc loc;
};

/// Automatic keys (goldgate.yaml `tunnel.tls`): peers authenticate each other with mutual TLS 1.3
/// and derive ESP keys from the TLS exporter (RFC 8446 §7.5); rekeyed before a lifetime runs out.
struct TunnelTlsConfig {
  bool enabled = false;
  std::string listen;                      // "addr:port" of this gateway's key service
  std::string cert, key;                   // this gateway's certificate chain and private key (PEM; key 0600)
  std::string ca;                          // CA certificates peers' certificates must chain to ("" with pins only)
  uint32_t lifetime_s = 3600;              // rekey after this long ...
  uint64_t lifetime_packets = 1ull << 32;  // ... or this many packets sealed under one key
  uint32_t grace_s =
      10;  // an old inbound key stays this long after the peer switched (default: min(10, lifetime_s / 2))
};

/// ESP tunnels between gateways (goldgate.yaml `tunnel`): flows toward a zone behind a peer are
/// sealed with AES-256-GCM and sent over the uplink's underlay address.
struct TunnelConfig {
  bool enabled = false;
  std::string uplink;                        // port name of the underlay link
  std::optional<MacAddr> underlay_mac;       // source MAC on the underlay (default: the uplink's own)
  std::optional<IfAddr> ipv4, ipv6;          // the uplink's underlay addresses
  std::optional<IpAddr> gateway4, gateway6;  // next hops toward peers outside those prefixes
  uint32_t mtu = 1500;                       // underlay MTU (outer packet, IP header included)
  MacAddr router_mac;                        // the gateway VMs use for zones behind peers
  std::optional<IpAddr> router_ipv4, router_ipv6;
  std::string aead = "auto";   // auto | ipsec-mb | openssl
  std::string key_file;        // static SAs (crypto/sa_file.h), absolute or relative to the config
  std::string sequence_file;   // static SAs' sequence numbers across restarts (default: beside quarantine_file)
  bool wait_for_keys = false;  // peer_down: wait — hold packets toward a peer without keys (else block)
  uint32_t wait_ms = 2000;     // ... for at most this long
  TunnelTlsConfig tls;
  std::vector<PeerConfig> peers;
  SourceLoc loc;
};

struct SwitchConfig {
  SwitchMode mode = SwitchMode::kSecure;
  std::vector<std::string> eal_args;
  std::vector<PortConfig> ports;
  uint32_t flow_table_size = 65536;
  // Connections one VM port may open (in all workers): one VM cannot fill the table for the
  // others. 0: half of flow_table_size.
  uint32_t flow_table_per_port = 0;
  uint32_t mbufs = 16383;
  uint16_t rx_ring = 1024;
  uint16_t tx_ring = 1024;
  Timeouts timeouts;
  std::string segments_dir;  // absolute, or relative to the config file's folder
  std::string control_socket = "/run/goldgate/switch.sock";
  std::string control_group;  // group (besides root) allowed on the control socket
  std::string alert_file = "/var/log/goldgate/alerts.jsonl";
  // Quarantined ports, one name a line: a restarted switch keeps them in quarantine.
  std::string quarantine_file = "/var/lib/goldgate/quarantine";
  uint32_t alert_window_ms = 5000;                          // repeated alerts within the window are aggregated
  std::string alert_format = "json";                        // json, ocsf, cef, leef, rfc5424 (validated)
  uint64_t alert_rotate_bytes = 64ull << 20;                // rotate the alert file past this size (0 = never)
  uint32_t alert_rotate_keep = 5;                           // old alert files kept
  std::string alert_spool_dir = "/var/lib/goldgate/spool";  // each sink spools in <dir>/<sink name>
  std::vector<alerts::SinkConfig> alert_sinks;              // network sinks (syslog, Kafka)
  // Prometheus metrics (docs/operations.md, "Metrics"): HOST:PORT of /metrics ("": off); rules
  // whose hits are series of their own (the most hit; the rest are summed into one series).
  std::string metrics_listen = "127.0.0.1:9109";
  uint32_t metrics_rule_hits_top = 20;
  std::vector<ZoneConfig> zones;
  InspectionConfig inspection;
  TunnelConfig tunnel;
  std::string source_file;
};

enum class Action : uint8_t { kDeny = 0, kAllow = 1 };

/// One side of a rule.
struct Endpoint {
  enum class Kind : uint8_t { kAny, kSegment, kCidr, kExternal };
  Kind kind = Kind::kAny;
  std::string segment;  // kSegment
  Cidr cidr;            // kCidr
  std::string str() const;
};

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
};

struct RuleConfig {
  std::string name;
  Endpoint from;
  Endpoint to;
  uint8_t protocol = 0;          // IANA number; 0 = any
  std::vector<PortRange> ports;  // destination ports; empty = any
  Action action = Action::kDeny;
  bool log = false;
  // Under inspection, a protocol the switch cannot read (neither TCP, UDP nor ICMP echo) is refused
  // unless the rule that admits it says so explicitly.
  bool uninspected = false;
  SourceLoc loc;
};

struct SegmentConfig {
  std::string name;
  std::vector<std::string> vms;
  std::vector<std::string> ports;
  std::map<std::string, std::string> labels;  // all must match
  SourceLoc loc;
};

struct SegmentsConfig {
  std::vector<SegmentConfig> segments;
  std::vector<RuleConfig> rules;             // in priority order (files by name, then file order)
  std::vector<RuleConfig> quarantine_rules;  // what a quarantined VM may still do
  bool default_log = true;                   // log default-deny hits
  std::vector<std::string> files;            // files read, for status
};

/// Reads and validates goldgate.yaml. Errors: "file:line: reason".
/// Any thread; does not touch DPDK.
Result<SwitchConfig> loadSwitchConfig(const std::string& path);

/// Parses goldgate.yaml from text (used by tests and fuzzing); `name` is used in messages.
Result<SwitchConfig> parseSwitchConfig(const std::string& text, const std::string& name);

/// Reads every *.yaml in `dir` (sorted by name) and validates them against the ports of `sw`.
Result<SegmentsConfig> loadSegments(const std::string& dir, const SwitchConfig& sw);

/// Every segment `inspection.segments` names is defined by the segment files. Errors:
/// "goldgate.yaml:LINE: inspection.segments: 'x' is no segment ..." (a typo would otherwise leave
/// that segment on the default silently).
Result<void> checkInspectionSegments(const SwitchConfig& sw, const SegmentsConfig& segs);

/// Parses segment files given as (name, text) pairs, in order. Used by tests and fuzzing.
Result<SegmentsConfig> parseSegments(const std::vector<std::pair<std::string, std::string>>& files,
                                     const SwitchConfig& sw);

/// Resolves the segments folder of `sw` (relative paths are relative to the config file).
std::string segmentsDirOf(const SwitchConfig& sw);

const char* protocolName(uint8_t proto);

}  // namespace goldgate::dataplane

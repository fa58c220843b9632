// The event catalog: every kind of alert Goldgate raises, and goldgate-hostmon's inventory events,
// one row each with its name on the wire, its default severity and one line saying when it happens.
// Raise sites and match sites name a Kind, never a string. docs/alerts.md (alerts) and
// docs/hostmon.md (inventory events) list the same rows; tests/unit/alerts/kinds_test.cc holds them,
// and the `kind` comment of proto/alert.proto, to this table. Adding a kind is a row here, its raise
// site and its line in the docs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "goldgate/common/enum_table.h"

namespace goldgate::proto {
class AlertEvent;
}

namespace goldgate::alerts {

enum class Kind : uint16_t {
  // goldgate-switch: the packet path (dataplane/src/alert_render.cc renders the workers' records).
  kPolicyDeny,
  kPolicyAllowLog,
  kSpoofMac,
  kSpoofIp,
  kFlowTableFull,
  kFlowCut,
  kData,  // family: data.<class>
  kInspectionGap,
  kInspectionEvasion,
  kInspectionOverload,
  kInspectionOpaque,
  kTunnelEspUnknownSa,
  kTunnelEspReplay,
  kTunnelEspAuthentication,
  kTunnelEspMalformed,
  kTunnelSeqExhausted,
  kTunnelUnderlayOther,
  // goldgate-switch: the control thread.
  kQuarantine,
  kRelease,
  kPolicyPublish,
  kPolicyReloadFailed,
  kStateWriteFailed,
  kVmBound,
  kVmUnbound,
  kAlertsDropped,
  kAlertsRateLimited,
  kTunnelPeerConnected,
  kTunnelKeysAgreed,
  kTunnelRekeyed,
  kTunnelPeerDisconnected,
  kTunnelPeerRejected,
  kTunnelKeyProtocol,
  kTunnelKeysExpired,
  kTunnelKeyServiceLimited,
  // The alert pipeline itself (any daemon with sinks).
  kAlertsSinkDown,
  kAlertsSinkUp,
  kAlertsSpoolDropped,
  kAlertsSpoolDamaged,
  // goldgate-hostmon: observations of guest state.
  kAttest,  // family: attest.<finding>
  kAttestAgentSilent,
  kAttestAgentError,
  kAttestAgentMalformed,
  kAttestKernelTextChanged,
  kAttestKernelBannerChanged,
  kAttestDisagreementKernelRelease,
  kAttestDisagreementAddress,
  kAttestDisagreementHiddenProcess,
  kAttestDisagreementHiddenModule,
  kAttestDisagreementPhantom,
  kAttestKernelHook,
  kAttestMemoryUnsupportedKernel,
  kAttestMemoryPartial,

  kAttestDisagreementFlowWithoutSocket,
  // goldgate-hostmon: red flags, a VM against its manifest (the deviation kinds of manifest.proto).
  kRedFlagUnknownExecutable,
  kRedFlagExecutableHash,
  kRedFlagExecutableUser,
  kRedFlagExecutableArgs,
  kRedFlagUnexpectedModule,
  kRedFlagModuleHash,
  kRedFlagKernelRelease,
  kRedFlagKernelCmdline,
  kRedFlagKernelText,
  kRedFlagUnexpectedListener,
  kRedFlagUnexpectedConnection,
  kRedFlagDataClass,
  kRedFlagDisagreement,
  kRedFlagKernelHook,
  kRedFlagMemoryView,
  kRedFlagAgentSilent,
  kAttestManifestRejected,
  kAttestResponse,
  // goldgate-fleet: the signed policy bundles of the fleet (docs/fleet.md).
  kFleetBundleApplied,
  kFleetBundleRefused,
  kFleetStoreUnreachable,
  // goldgate-hostmon: changes to the VM inventory (not alerts).
  kVmDefined,
  kVmUndefined,
  kVmStarted,
  kVmStopped,
  kVmPaused,
  kVmResumed,
  kVmShutdown,
  kVmCrashed,
  kVmSuspended,
  kVmRebooted,
  kVmRenamed,
  kVmNicAdded,
  kVmNicRemoved,
  kVmDeviceAdded,
  kVmDeviceRemoved,
  kVmLabelsChanged,
  kVmAgentConnected,
  kVmAgentDisconnected,
  kCount
};

/// Where events of a kind go.
enum class Channel : uint8_t {
  kAlert,      // an AlertEvent (proto/alert.proto): the alert file, the sinks, `goldgatectl alerts`
  kInventory,  // a change to goldgate-hostmon's VM inventory: its log and its observers, never an alert
};

struct KindInfo {
  Kind id;
  std::string_view name;    // as on the wire; a family's is its prefix, ending in '.'
  std::string_view suffix;  // a family's variable part as the docs show it ("class": data.<class>); "" for one name
  uint8_t severity;         // default, 0 (info) .. 10 (critical); 0 for inventory events
  Channel channel;
  std::string_view doc;  // when it is raised

  constexpr bool family() const { return !suffix.empty(); }
};

// In the order of the Kind enum (checked below).
inline constexpr KindInfo kKinds[] = {
    {Kind::kPolicyDeny, "policy.deny", "", 5, Channel::kAlert,
     "a new connection refused by a rule with logging, or by a logged default deny"},
    {Kind::kPolicyAllowLog, "policy.allow_log", "", 2, Channel::kAlert,
     "a new connection admitted by an allow-log rule"},
    {Kind::kSpoofMac, "spoof.mac", "", 7, Channel::kAlert, "a VM sent from a MAC address its port is not bound to"},
    {Kind::kSpoofIp, "spoof.ip", "", 7, Channel::kAlert, "a VM sent from an IP address its port is not bound to"},
    {Kind::kFlowTableFull, "flow_table.full", "", 8, Channel::kAlert,
     "a new connection refused because the flow table is full (fail closed)"},
    {Kind::kFlowCut, "flow.cut", "", 4, Channel::kAlert, "a reload or a quarantine cut a live connection"},
    {Kind::kData, "data.", "class", 5, Channel::kAlert,
     "a data class found in a flow where its policy is not allow; severity: the class's"},
    {Kind::kInspectionGap, "inspection.gap", "", 5, Channel::kAlert,
     "payload bytes of a connection could never be inspected (7 if that blocked it)"},
    {Kind::kInspectionEvasion, "inspection.evasion", "", 8, Channel::kAlert,
     "a retransmission differs from bytes already held or read: the connection is cut"},
    {Kind::kInspectionOverload, "inspection.overload", "", 5, Channel::kAlert,
     "too many inspected connections: a new one could not be followed (7 if that blocked it)"},
    {Kind::kInspectionOpaque, "inspection.opaque", "", 4, Channel::kAlert,
     "content that cannot be read (TLS, SSH, encrypted or high-entropy) where a rule reports or blocks it (7 if "
     "blocked)"},
    {Kind::kTunnelEspUnknownSa, "tunnel.esp_unknown_sa", "", 7, Channel::kAlert,
     "ESP with an SPI no inbound SA has, or from an address other than its peer's"},
    {Kind::kTunnelEspReplay, "tunnel.esp_replay", "", 7, Channel::kAlert,
     "an ESP packet seen before, or older than the replay window, was dropped"},
    {Kind::kTunnelEspAuthentication, "tunnel.esp_authentication", "", 7, Channel::kAlert,
     "an ESP packet failed its integrity check"},
    {Kind::kTunnelEspMalformed, "tunnel.esp_malformed", "", 5, Channel::kAlert,
     "an authentic but malformed ESP packet, or an outer fragment, was dropped"},
    {Kind::kTunnelSeqExhausted, "tunnel.seq_exhausted", "", 7, Channel::kAlert,
     "a peer's outbound SA ran out of sequence numbers"},
    {Kind::kTunnelUnderlayOther, "tunnel.underlay_other", "", 4, Channel::kAlert,
     "a packet to the underlay address that is neither ESP, ARP nor ND was dropped"},
    {Kind::kQuarantine, "quarantine", "", 8, Channel::kAlert, "a VM was put in quarantine"},
    {Kind::kRelease, "release", "", 4, Channel::kAlert, "a VM was released from quarantine"},
    {Kind::kPolicyPublish, "policy.publish", "", 1, Channel::kAlert, "a policy version came into force"},
    {Kind::kPolicyReloadFailed, "policy.reload_failed", "", 6, Channel::kAlert,
     "a reload was rejected; the running policy stays"},
    {Kind::kStateWriteFailed, "state.write_failed", "", 9, Channel::kAlert,
     "a quarantine is in force but the quarantine file could not be written"},
    {Kind::kVmBound, "vm.bound", "", 2, Channel::kAlert, "goldgate-hostmon put a VM on a port"},
    {Kind::kVmUnbound, "vm.unbound", "", 2, Channel::kAlert, "a VM left its port; the port is closed"},
    {Kind::kAlertsDropped, "alerts.dropped", "", 6, Channel::kAlert,
     "the packet path raised alerts faster than they could be written"},
    {Kind::kAlertsRateLimited, "alerts.rate_limited", "", 5, Channel::kAlert,
     "a port raised low-priority alerts beyond its share"},
    {Kind::kTunnelPeerConnected, "tunnel.peer_connected", "", 2, Channel::kAlert,
     "the key service connection to a peer is up and the peer proved who it is"},
    {Kind::kTunnelKeysAgreed, "tunnel.keys_agreed", "", 2, Channel::kAlert,
     "the first ESP keys on a key service connection are in force"},
    {Kind::kTunnelRekeyed, "tunnel.rekeyed", "", 2, Channel::kAlert, "a new key epoch replaced a peer's keys"},
    {Kind::kTunnelPeerDisconnected, "tunnel.peer_disconnected", "", 5, Channel::kAlert,
     "the key service connection to a peer was lost"},
    {Kind::kTunnelPeerRejected, "tunnel.peer_rejected", "", 7, Channel::kAlert,
     "a key service connection failed the handshake or did not prove to be a configured peer"},
    {Kind::kTunnelKeyProtocol, "tunnel.key_protocol", "", 6, Channel::kAlert,
     "a peer's key service sent an unexpected message (7: no inbound SA slot free)"},
    {Kind::kTunnelKeysExpired, "tunnel.keys_expired", "", 7, Channel::kAlert,
     "a peer's keys ran out without a new agreement: flows toward it are blocked"},
    {Kind::kTunnelKeyServiceLimited, "tunnel.key_service_limited", "", 6, Channel::kAlert,
     "connections to the key service were refused over its bounds"},
    {Kind::kAlertsSinkDown, "alerts.sink_down", "", 6, Channel::kAlert, "a sink lost its receiver"},
    {Kind::kAlertsSinkUp, "alerts.sink_up", "", 1, Channel::kAlert, "a sink reached its receiver again"},
    {Kind::kAlertsSpoolDropped, "alerts.spool_dropped", "", 7, Channel::kAlert,
     "a full spool dropped undelivered events"},
    {Kind::kAlertsSpoolDamaged, "alerts.spool_damaged", "", 6, Channel::kAlert,
     "a torn end of a spool was cut off at start-up"},
    {Kind::kAttest, "attest.", "finding", 5, Channel::kAlert,
     "an attestation finding without a row of its own (every one raised today has one)"},
    {Kind::kAttestAgentSilent, "attest.agent.silent", "", 4, Channel::kAlert, "a VM's guest agent did not answer"},
    {Kind::kAttestAgentError, "attest.agent.error", "", 4, Channel::kAlert,
     "a VM's guest agent answered with an error"},
    {Kind::kAttestAgentMalformed, "attest.agent.malformed", "", 4, Channel::kAlert,
     "a VM's guest agent sent a reply that does not parse"},
    {Kind::kAttestKernelTextChanged, "attest.kernel.text_changed", "", 8, Channel::kAlert,
     "a VM's kernel text differs from its gold hash"},
    {Kind::kAttestKernelBannerChanged, "attest.kernel.banner_changed", "", 8, Channel::kAlert,
     "a VM's kernel banner is gone from where this boot's kernel had it"},
    {Kind::kAttestDisagreementKernelRelease, "attest.disagreement.kernel_release", "", 6, Channel::kAlert,
     "guest memory names another kernel release than the agent"},
    {Kind::kAttestDisagreementAddress, "attest.disagreement.address", "", 6, Channel::kAlert,
     "the agent reports an address the domain does not bind"},
    {Kind::kAttestDisagreementHiddenProcess, "attest.disagreement.hidden_process", "", 8, Channel::kAlert,
     "a process in guest memory is missing from the agent's list in two passes (hidden from the guest's tools)"},
    {Kind::kAttestDisagreementHiddenModule, "attest.disagreement.hidden_module", "", 8, Channel::kAlert,
     "a kernel module in guest memory is missing from the agent's list"},
    {Kind::kAttestDisagreementPhantom, "attest.disagreement.phantom", "", 7, Channel::kAlert,
     "the agent reports a process or module guest memory does not have (it lies or is stale)"},
    {Kind::kAttestKernelHook, "attest.kernel.hook", "", 10, Channel::kAlert,
     "a system-call table or IDT entry points outside kernel text"},
    {Kind::kAttestMemoryUnsupportedKernel, "attest.memory.unsupported_kernel", "", 5, Channel::kAlert,
     "a VM's kernel has no kernel profile: its memory cannot be introspected"},
    {Kind::kAttestMemoryPartial, "attest.memory.partial", "", 6, Channel::kAlert,
     "a memory pass could read a kernel list only in part (changed under the walk on every try, over a bound, out "
     "of time): while it lasts, cross-view has no evidence"},
    {Kind::kAttestDisagreementFlowWithoutSocket, "attest.disagreement.flow_without_socket", "", 6, Channel::kAlert,
     "the switch carries a flow to a port where the agent shows no socket"},
    {Kind::kRedFlagUnknownExecutable, "attest.unknown_executable", "", 8, Channel::kAlert,
     "red flag: a process whose executable is not in the manifest"},
    {Kind::kRedFlagExecutableHash, "attest.executable_hash", "", 9, Channel::kAlert,
     "red flag: a declared executable running with another hash"},
    {Kind::kRedFlagExecutableUser, "attest.executable_user", "", 6, Channel::kAlert,
     "red flag: a declared executable run by another user"},
    {Kind::kRedFlagExecutableArgs, "attest.executable_args", "", 5, Channel::kAlert,
     "red flag: a declared executable with a command line the manifest does not allow"},
    {Kind::kRedFlagUnexpectedModule, "attest.unexpected_module", "", 7, Channel::kAlert,
     "red flag: a loaded kernel module not in the manifest"},
    {Kind::kRedFlagModuleHash, "attest.module_hash", "", 8, Channel::kAlert,
     "red flag: a module with another hash (not raised yet: module hashes are not collected)"},
    {Kind::kRedFlagKernelRelease, "attest.kernel_release", "", 8, Channel::kAlert,
     "red flag: another kernel release than the manifest's"},
    {Kind::kRedFlagKernelCmdline, "attest.kernel_cmdline", "", 7, Channel::kAlert,
     "red flag: another kernel command line than the manifest's"},
    {Kind::kRedFlagKernelText, "attest.kernel_text", "", 10, Channel::kAlert,
     "red flag: the kernel text differs from the manifest's hash"},
    {Kind::kRedFlagUnexpectedListener, "attest.unexpected_listener", "", 6, Channel::kAlert,
     "red flag: a listening socket not in the manifest"},
    {Kind::kRedFlagUnexpectedConnection, "attest.unexpected_connection", "", 7, Channel::kAlert,
     "red flag: a flow no inbound or outbound entry of the manifest allows"},
    {Kind::kRedFlagDataClass, "attest.data_class", "", 8, Channel::kAlert,
     "red flag: a data class the manifest does not declare toward that peer"},
    {Kind::kRedFlagDisagreement, "attest.disagreement", "", 8, Channel::kAlert,
     "red flag: the guest's and the hypervisor's views disagree"},
    {Kind::kRedFlagKernelHook, "attest.kernel_hook", "", 10, Channel::kAlert,
     "red flag: a system-call table or IDT entry of the guest kernel is hooked"},
    {Kind::kRedFlagMemoryView, "attest.memory_view", "", 7, Channel::kAlert,
     "red flag: the manifest requires the memory view, and the VM's kernel cannot be introspected"},
    {Kind::kRedFlagAgentSilent, "attest.agent_silent", "", 5, Channel::kAlert,
     "red flag: the guest agent stopped answering (two polls in a row)"},
    {Kind::kAttestManifestRejected, "attest.manifest_rejected", "", 7, Channel::kAlert,
     "a manifest file was refused; its application keeps the last accepted one"},
    {Kind::kAttestResponse, "attest.response", "", 6, Channel::kAlert,
     "a response action ran, waits for approval (6), failed (8) or was undone (4)"},
    {Kind::kFleetBundleApplied, "fleet.bundle_applied", "", 3, Channel::kAlert,
     "a verified policy bundle from the fleet store is in force on this host"},
    {Kind::kFleetBundleRefused, "fleet.bundle_refused", "", 8, Channel::kAlert,
     "a policy bundle in the fleet store was refused (unsigned, tampered, rolled back, expired, invalid); the host "
     "keeps enforcing its last-known-good"},
    {Kind::kFleetStoreUnreachable, "fleet.store_unreachable", "", 5, Channel::kAlert,
     "the fleet store (etcd) cannot be reached; the host keeps enforcing its last-known-good"},
    {Kind::kVmDefined, "vm.defined", "", 0, Channel::kInventory, "a VM appears"},
    {Kind::kVmUndefined, "vm.undefined", "", 0, Channel::kInventory, "a VM disappears"},
    {Kind::kVmStarted, "vm.started", "", 0, Channel::kInventory, "a VM runs (also one first seen running)"},
    {Kind::kVmStopped, "vm.stopped", "", 0, Channel::kInventory, "a VM is shut off"},
    {Kind::kVmPaused, "vm.paused", "", 0, Channel::kInventory, "a VM is paused"},
    {Kind::kVmResumed, "vm.resumed", "", 0, Channel::kInventory, "a paused or suspended VM runs again"},
    {Kind::kVmShutdown, "vm.shutdown", "", 0, Channel::kInventory, "a guest is shutting down"},
    {Kind::kVmCrashed, "vm.crashed", "", 0, Channel::kInventory, "a VM crashed"},
    {Kind::kVmSuspended, "vm.suspended", "", 0, Channel::kInventory, "a VM is suspended (power management)"},
    {Kind::kVmRebooted, "vm.rebooted", "", 0, Channel::kInventory, "a guest rebooted"},
    {Kind::kVmRenamed, "vm.renamed", "", 0, Channel::kInventory, "a domain was renamed (same UUID)"},
    {Kind::kVmNicAdded, "vm.nic_added", "", 0, Channel::kInventory, "a vNIC appeared"},
    {Kind::kVmNicRemoved, "vm.nic_removed", "", 0, Channel::kInventory, "a vNIC went"},
    {Kind::kVmDeviceAdded, "vm.device_added", "", 0, Channel::kInventory, "another device appeared"},
    {Kind::kVmDeviceRemoved, "vm.device_removed", "", 0, Channel::kInventory, "another device went"},
    {Kind::kVmLabelsChanged, "vm.labels_changed", "", 0, Channel::kInventory, "a VM's Goldgate metadata changed"},
    {Kind::kVmAgentConnected, "vm.agent_connected", "", 0, Channel::kInventory, "a guest agent came up"},
    {Kind::kVmAgentDisconnected, "vm.agent_disconnected", "", 0, Channel::kInventory, "a guest agent went away"},
};

static_assert(rowsInEnumOrder(kKinds, &KindInfo::id) && std::size(kKinds) == static_cast<size_t>(Kind::kCount),
              "kKinds: one row per Kind, in enum order");

/// The row of `k` (every Kind but kCount has one). Any thread.
constexpr const KindInfo& info(Kind k) { return kKinds[static_cast<size_t>(k)]; }

/// The name of `k` on the wire; a family's is its prefix followed by `suffix` ("data." +
/// "payment-card"). `suffix` is ignored for a kind with one name. Any thread.
std::string wireName(Kind k, std::string_view suffix = {});

/// The row a wire name belongs to: the row of that exact name, else the family whose prefix it
/// starts with (and goes on after). Null when no row matches. Any thread.
const KindInfo* findKind(std::string_view name);

/// How the docs show a row's name: "policy.deny", a family as "data.<class>". Any thread.
std::string docName(const KindInfo& k);

/// Sets the event's kind to `k` (a family's with `suffix`) and its severity to the row's default;
/// a family's name that has a row of its own takes that row's. A raise site with a reason to
/// differ sets the severity after this call. Any thread.
void setKind(proto::AlertEvent& ev, Kind k, std::string_view suffix = {});

}  // namespace goldgate::alerts

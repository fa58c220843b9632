// Continuous attestation: every VM judged against its accepted manifest after every observation
// (each agent and memory poll, each flow-table fetch from the switch). A deviation becomes a red
// flag (aggregated: the same kind and subject count into one), an alert, and the responses its
// manifest asks for, run through real interfaces (ResponseExecutor: the switch's control API,
// libvirt). Responses are recorded with what triggered them and can be undone (release).
//
// Threads: check() runs on collector and switch-sync threads; the control API reads on main's.
// One mutex guards the per-VM records; responses run outside it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "alert.pb.h"
#include "goldgate/common/result.h"
#include "guest_state.h"
#include "hostmon.pb.h"
#include "inventory.h"
#include "manifest.pb.h"
#include "manifest_check.h"

namespace goldgate::hostmon {

/// A manifest that passed verification (signature, threshold, expiry, rollback).
struct AcceptedManifest {
  proto::Manifest manifest;
  std::string file;
  std::vector<std::string> signers;  // key ids
};

/// Runs response actions on a VM. Implementations: LiveResponses (switch + libvirt), test fakes.
class ResponseExecutor {
 public:
  virtual ~ResponseExecutor() = default;
  /// Runs `action` (quarantine, harden, suspend, snapshot, poweroff) on the VM; `app` is its
  /// manifest's application (harden moves it to the segment APP.hardened). Returns a detail for
  /// the record (a snapshot's name). Errors: the switch or libvirt refused (the text says why).
  virtual Result<std::string> run(const std::string& action, const std::string& vm, const std::string& uuid,
                                  const std::string& app) = 0;
  /// Undoes it: release (quarantine), unharden, resume (suspend). Errors as run().
  virtual Result<std::string> undo(const std::string& action, const std::string& vm, const std::string& uuid) = 0;
};

/// Where the red flags and response records go (an AlertEvent and its aggregation key).
using AlertSink = std::function<void(const proto::AlertEvent&, const std::string& key)>;

class AttestService {
 public:
  /// `exec` may be null (deviations are flagged, no action is run: each is recorded as failed).
  AttestService(const Inventory& inv, const GuestStateStore& store, ResponseExecutor* exec, AlertSink alerts,
                std::function<void(const std::string&)> log);

  /// Replaces the accepted manifests and the per-file status the control API shows. A VM whose
  /// manifest changed is judged again at its next observation. Any thread.
  void setManifests(std::vector<AcceptedManifest> accepted, std::vector<proto::ManifestStatus> statuses);
  /// The configured zones (for `zone:` peers), once at start.
  void setZones(std::vector<PeerDirectory::Zone> zones);

  /// The manifest that applies to `vm` (its metadata's manifest name, else the first whose
  /// selector matches), or null.
  const AcceptedManifest* manifestFor(const VmRecord& vm) const;

  /// Judges one VM now (after an observation). Any thread.
  void check(const std::string& uuid);

  /// The VM's attestation for the control API (GetVm). Any thread.
  proto::VmAttestation attestation(const std::string& uuid) const;
  /// ListManifests. Any thread.
  std::vector<proto::ManifestStatus> manifests() const;

  /// Undoes every response in force on the VM (lift quarantine, unharden, resume); red flags stay
  /// in the record, and a deviation that is still there is not answered again until it has gone
  /// away and come back. `by` names who asked. Errors: unknown VM.
  Result<std::vector<proto::ResponseAction>> release(const std::string& nameOrUuid, const std::string& by);

  /// Runs the responses that wait for an operator (the manifest's `confirm: true`): the pending
  /// action `actionId` of the VM, or all of them (0). `by` names who approved. Returns the actions
  /// as they ended (done or failed). Errors: unknown VM, no such pending action.
  Result<std::vector<proto::ResponseAction>> approve(const std::string& nameOrUuid, uint64_t actionId,
                                                     const std::string& by);

  /// Raises an alert that a manifest file was refused (main calls it when loading).
  void manifestRejected(const proto::ManifestStatus& st);

  /// Learns the VM for `durationMs`: every observation in that time is kept, and when it ends
  /// (tick()) `done` gets the draft manifest (learnManifest) as YAML by `toYaml`. Errors (given
  /// to `done` at once): unknown VM, a session for it already running.
  using LearnDone = std::function<void(Result<proto::LearnResponse>)>;
  void startLearning(const std::string& nameOrUuid, uint64_t durationMs, const std::string& app, LearnDone done);
  /// Renders drafts (attest's manifestToYaml). Set before serving.
  void setYamlWriter(std::function<std::string(const proto::Manifest&)> w) { to_yaml_ = std::move(w); }
  /// Finishes learning sessions whose time is up. Main thread, periodically.
  void tick();

 private:
  struct VmAttest {
    std::string app;
    uint64_t version = 0;
    proto::VmAttestation view;                    // items, flags, actions, state flags
    std::map<std::string, size_t> flag_index;     // kind|subject → index in view.red_flags
    std::map<std::string, bool> in_force;         // quarantine/harden/suspend → undone on release
    std::map<uint64_t, std::string> pending_app;  // pending action id → the app whose manifest asked for it
  };
  PeerDirectory peers() const;  // from the inventory and the agents' addresses (mu_ held)
  void respond(const VmRecord& vm, const AcceptedManifest& m, const proto::RedFlag& flag,
               const std::vector<std::string>& actions);
  // Runs one action now and records it (`pendingId`: the pending record it fulfils, else 0: a new one).
  proto::ResponseAction runAction(const VmRecord& vm, const std::string& app, std::string action,
                                  const std::string& trigger, uint64_t flagId, uint64_t pendingId);
  void alertAction(const VmRecord& vm, const proto::ResponseAction& a, bool ok);
  proto::ResponseAction record(const std::string& uuid, const std::string& action, const std::string& state,
                               const std::string& trigger, const std::string& detail);

  const Inventory& inv_;
  const GuestStateStore& store_;
  ResponseExecutor* exec_;
  AlertSink alerts_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mu_;
  std::vector<AcceptedManifest> manifests_;
  std::vector<proto::ManifestStatus> statuses_;
  std::vector<PeerDirectory::Zone> zones_;
  std::map<std::string, VmAttest> vms_;  // by UUID
  uint64_t next_flag_ = 1, next_action_ = 1;
  std::mutex respond_mu_;  // one response at a time (a VM is not quarantined twice concurrently)
  struct Learning {
    std::string uuid, app;
    int64_t until_ns = 0;
    std::vector<GuestState> states;
    LearnDone done;
  };
  std::vector<Learning> learning_;  // guarded by mu_
  std::function<std::string(const proto::Manifest&)> to_yaml_;
  static constexpr size_t kMaxLearnStates = 2000;
};

/// Builds a draft manifest from what a VM was seen doing (learning). `app` names the draft;
/// `states` are the VM's guest states over the learning period (oldest first); `peers` resolves
/// the addresses of its connections into apps, segments and zones; `base` (may be null) is the
/// active manifest, whose version the draft follows and whose responses and expiry it keeps.
proto::Manifest learnManifest(const std::string& app, const VmRecord& vm, const std::vector<GuestState>& states,
                              const PeerDirectory& peers, const proto::Manifest* base, int64_t nowUnix);

}  // namespace goldgate::hostmon

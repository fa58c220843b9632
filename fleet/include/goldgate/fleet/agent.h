// goldgate-fleet: a host's agent of the fleet (docs/fleet.md). It watches the fleet's policy prefix
// in etcd, verifies each new bundle against the host's trust root, stores it as the host's
// last-known-good atomically and applies it (the switch reloads its policy from the last-known-good
// folder; hostmon reads its manifests from there), and reports under a lease-backed key of its own.
// With etcd away it keeps enforcing what it has, and it starts on it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "fleet.pb.h"
#include "goldgate/attest/verify.h"
#include "goldgate/common/result.h"
#include "goldgate/fleet/bundle.h"
#include "goldgate/fleet/etcd.h"

namespace goldgate::fleet {

struct AgentConfig {
  std::string host;  // this host's name: its status key, its etcd user (the certificate's CN)
  EtcdOptions etcd;
  std::string prefix = "/goldgate";
  attest::TrustPolicy trust;                          // the keys (and how many) a bundle must be signed by
  std::string state_dir = "/var/lib/goldgate/fleet";  // the last-known-good: current -> versions/N
  std::string switch_socket;                          // the switch's control socket ("": no switch to reload)
  std::string switch_config;                          // its goldgate.yaml: segment files are checked against it first
  uint32_t lease_ttl_s = 10;
  uint32_t report_interval_ms = 2000;
  uint32_t keep_versions = 3;  // old versions kept beside the current one
  std::string alert_file = "/var/log/goldgate/fleet-alerts.jsonl";
  std::string source_file;
};

/// Reads /etc/goldgate/fleet.yaml (docs/fleet.md). Errors: file:line: reason.
Result<AgentConfig> loadAgentConfig(const std::string& path);

/// The last-known-good on disk: `dir`/versions/N (the bundle's files and N.envelope.json beside
/// them) and `dir`/current, a symbolic link to the version in force, replaced atomically.
class LastKnownGood {
 public:
  /// Opens (creates) `dir` and reads the version in force (0: none). Errors: kIo.
  static Result<LastKnownGood> open(const std::string& dir);
  uint64_t version() const { return version_; }
  /// The folder the switch and hostmon read: `dir`/current.
  std::string currentDir() const { return dir_ + "/current"; }
  /// The envelope of the version in force ("" for none).
  Result<std::string> envelope() const;
  /// Writes version b.version() in full (fsynced) beside the others without putting it in force.
  Result<std::string> stage(const proto::PolicyBundle& b, const std::string& envelopeJson);
  /// Puts staged version `v` in force (the link replaced by rename, the folder fsynced); returns
  /// the version it replaced.
  Result<uint64_t> activate(uint64_t v);
  /// Removes versions older than the newest `keep` besides the one in force.
  void prune(uint32_t keep);

 private:
  std::string dir_;
  uint64_t version_ = 0;
};

class FleetAgent {
 public:
  using Log = std::function<void(const std::string&)>;
  /// Raises an alert: kind name, severity, message.
  using Alert = std::function<void(const std::string& kind, const std::string& message)>;
  static Result<std::unique_ptr<FleetAgent>> create(AgentConfig cfg, Log log, Alert alert);
  /// Serves until `stop` is set: sync, watch, verify, apply, report. Never returns on etcd errors:
  /// they are reported and retried, and the last-known-good stays in force.
  void run(const std::atomic<bool>& stop);
  const proto::HostStatus& status() const { return status_; }

 private:
  FleetAgent(AgentConfig cfg, Log log, Alert alert, LastKnownGood lkg, std::unique_ptr<EtcdClient> etcd);
  // The newest bundle in the store, verified and applied when newer than what is in force; the
  // store's revision it read at.
  Result<int64_t> sync();
  // One bundle (found under `key`): verified, then applied; refusals alerted once per version.
  void consider(const std::string& key, const std::string& envelopeJson);
  Result<void> apply(const VerifiedBundle& v, const std::string& envelopeJson);
  void report(bool force);
  void switchHealth();

  AgentConfig cfg_;
  Log log_;
  Alert alert_;
  LastKnownGood lkg_;
  std::unique_ptr<EtcdClient> etcd_;
  proto::HostStatus status_;
  int64_t lease_ = 0;
  int64_t revision_ = 0;  // the last revision seen
  std::chrono::steady_clock::time_point next_report_{};
  bool reachable_ = true;
  std::set<uint64_t> refused_;         // versions refused (alerted once)
  std::string switch_config_checked_;  // empty: ok
};

}  // namespace goldgate::fleet

// HostmonDaemon: goldgate-hostmon's pieces wired together — the VM inventory, the libvirt monitor,
// the control server, guest-state collection, the switch sync, attestation and its manifests — and
// the requests it serves. Beside the switch's SwitchImpl; main.cc only parses the command line.
// Internal to hostmon/.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "attestation.h"
#include "config.h"
#include "control.h"
#include "goldgate/common/metrics_http.h"
#include "goldgate/common/result.h"
#include "guest_collection.h"
#include "inventory.h"
#include "libvirt_monitor.h"
#include "manifest_loader.h"
#include "metrics.h"
#include "responses.h"
#include "switch_sync.h"

namespace goldgate::hostmon {

class HostmonDaemon {
 public:
  using Log = std::function<void(const std::string&)>;
  /// Builds every piece from `cfg` (read from `configPath`, named in errors) and opens the control
  /// socket; nothing runs yet.
  static Result<std::unique_ptr<HostmonDaemon>> create(const HostmonConfig& cfg, const std::string& configPath,
                                                       Log log);
  ~HostmonDaemon();
  /// Starts the monitor, collection and sync, then serves until `stop` is set. Each time `reload`
  /// is set (SIGHUP: systemctl reload), the manifests are read again at once and it is cleared.
  void run(const std::atomic<bool>& stop, std::atomic<bool>* reload = nullptr);
  /// Stops the threads; false when a libvirt call is still blocked (libvirtd hung): the caller
  /// should then exit without waiting for it.
  bool shutdown();

 private:
  HostmonDaemon(const HostmonConfig& cfg, Log log);
  Result<void> wire(const std::string& configPath);
  // The control API's requests beyond the inventory (ControlServer serves that itself).
  bool handle(const proto::HostmonRequest& req, const std::shared_ptr<Responder>& r);
  void reloadManifests();

  HostmonConfig cfg_;
  Log log_;
  Inventory inv_;
  std::unique_ptr<SwitchSync> sync_;
  std::unique_ptr<LibvirtMonitor> monitor_;
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<GuestCollection> collection_;
  std::unique_ptr<LiveResponses> responses_;
  std::unique_ptr<AttestService> attest_;
  std::unique_ptr<ManifestLoader> loader_;
  std::unique_ptr<metrics::MetricsServer> metrics_;  // after everything it reads, so that it stops first
  std::chrono::steady_clock::time_point next_reload_{};
};

}  // namespace goldgate::hostmon

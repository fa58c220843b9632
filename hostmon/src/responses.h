// The response actions as goldgate-hostmon runs them on a real host: quarantine through the
// switch's control API (the switch keeps it by VM name, across ports and restarts), harden by
// moving the VM's ports into its manifest's APP.hardened segment (SwitchSync), and suspend,
// snapshot and power off through libvirt on the monitor's connection.
#pragma once

#include <string>

#include "attestation.h"
#include "libvirt_monitor.h"
#include "switch_sync.h"

namespace goldgate::hostmon {

class LiveResponses : public ResponseExecutor {
 public:
  /// `sync` may be null (hostmon does not push to a switch: harden fails with that reason);
  /// `switchSocket` empty: quarantine fails likewise.
  LiveResponses(LibvirtMonitor& monitor, SwitchSync* sync, std::string switchSocket)
      : monitor_(monitor), sync_(sync), socket_(std::move(switchSocket)) {}
  Result<std::string> run(const std::string& action, const std::string& vm, const std::string& uuid,
                          const std::string& app) override;
  Result<std::string> undo(const std::string& action, const std::string& vm, const std::string& uuid) override;

 private:
  Result<std::string> quarantine(const std::string& vm, bool on);
  Result<std::string> libvirt(const std::string& action, const std::string& uuid);
  LibvirtMonitor& monitor_;
  SwitchSync* sync_;
  std::string socket_;
};

}  // namespace goldgate::hostmon

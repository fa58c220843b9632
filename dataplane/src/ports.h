// The switch's DPDK environment: the EAL (its lcores and runtime folder), the mbuf pool and the
// ports, from set-up to close. Internal to dataplane/; owned by SwitchImpl.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "goldgate/common/result.h"
#include "goldgate/dataplane/config.h"

struct rte_mempool;

namespace goldgate::dataplane {

class Ports {
 public:
  Ports() = default;
  /// close().
  ~Ports();
  Ports(const Ports&) = delete;
  Ports& operator=(const Ports&) = delete;

  /// Starts the EAL with the arguments of `sw` (defaults when it gives none), a PCI device
  /// allowed or a virtual device created for each port, and learns the lcores. Unless the
  /// arguments name one, the EAL gets a file prefix of its own (removed again by close()).
  /// Errors: the EAL refused to start (with its arguments). Main thread, once.
  Result<void> initEal(const SwitchConfig& sw);

  /// Creates the mbuf pool and configures and starts every port of `sw`, in order, with one rx
  /// and one tx queue per lcore (symmetric RSS when there are several). Errors name the port
  /// (`file:line: port 'name'`): a device not probed, too few queues, a set-up step refused; or
  /// the pool could not be had. Main thread, after initEal().
  Result<void> open(const SwitchConfig& sw);

  /// Stops every port (the workers are done: pcap outputs are complete once this returns).
  /// Main thread.
  void stop();

  /// Stops and closes the ports that open() started, cleans the EAL up and removes the runtime
  /// folder when the prefix was the switch's own. Does what was set up, once. Main thread.
  void close();

  /// Every port reads a pcap file to its end (net_pcap, no infinite_rx, no live interface):
  /// the input can run dry. Known after initEal().
  bool allPcap() const { return all_pcap_; }
  /// The EAL's lcores, the main one included: one worker each. Known after initEal().
  const std::vector<unsigned>& lcores() const { return lcores_; }
  /// DPDK port ids, in the order of the configured ports. Known after open().
  const std::vector<uint16_t>& ids() const { return ids_; }
  rte_mempool* pool() const { return pool_; }
  /// The Ethernet address of port `port` (switch order) as a 48-bit integer, first byte most
  /// significant. Any thread, after open().
  uint64_t mac(uint16_t port) const;
  /// Whether port `port` (switch order) has link; nothing when the device cannot say. Any
  /// thread, after open().
  std::optional<bool> linkUp(uint16_t port) const;

 private:
  std::vector<unsigned> lcores_;
  std::vector<uint16_t> ids_;
  rte_mempool* pool_ = nullptr;
  bool eal_up_ = false;
  bool own_prefix_ = false;  // the EAL file prefix is the switch's own (its runtime folder is removed at exit)
  bool started_ = false;
  bool all_pcap_ = false;
};

}  // namespace goldgate::dataplane

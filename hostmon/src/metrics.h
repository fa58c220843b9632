// goldgate-hostmon's Prometheus metrics (docs/hostmon.md, "Metrics"): computed when they are
// scraped, from what hostmon keeps anyway (the inventory, each VM's guest state and poll costs, the
// attestation views), so that polling pays nothing for them. Served over HTTP by prometheus-cpp.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "guest_state.h"
#include "hostmon.pb.h"
#include "inventory.h"

namespace goldgate::hostmon {

class HostmonMetrics : public prometheus::Collectable {
 public:
  /// `attestation(uuid)`: the VM's attestation view (red flags, responses).
  HostmonMetrics(const Inventory& inv, const GuestStateStore& store,
                 std::function<proto::VmAttestation(const std::string& uuid)> attestation);
  /// The families, named by Prometheus conventions (goldgate_hostmon_*, units, _total). Any thread.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Inventory& inv_;
  const GuestStateStore& store_;
  std::function<proto::VmAttestation(const std::string&)> attestation_;
};

}  // namespace goldgate::hostmon

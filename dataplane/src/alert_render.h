// The workers' alert records (AlertRecord, worker.h) as alert events: one small renderer per
// record kind, run on the control thread as it drains the alert rings. Internal to dataplane/.
#pragma once

#include <string>

#include "alert.pb.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/policy.h"
#include "goldgate/datapolicy/engine.h"
#include "worker.h"

namespace goldgate::dataplane {

/// What a record names by number: ports, rules, zones and data classes.
struct AlertContext {
  const SwitchConfig& sw;                    // port names, VMs, zones
  const CompiledPolicy* pol;                 // in force; null before the first publish
  const datapolicy::Classifier* classifier;  // null: inspection is off
};

/// Renders `a` into `ev`, and into `key` what makes its repeats one aggregate (AlertLog::raise).
/// Returns false for a record no renderer knows (nothing to raise). Control thread.
bool renderAlert(const AlertRecord& a, const AlertContext& ctx, proto::AlertEvent* ev, std::string* key);

}  // namespace goldgate::dataplane

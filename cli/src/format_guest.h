// Text rendering of a VM's guest state (what hostmon's collectors observed) for `goldgatectl vm show`.
#pragma once

#include <string>

#include "hostmon.pb.h"

namespace goldgate::cli {

/// The guest state in sections (kernel, memory, interfaces, listening sockets, processes,
/// modules, observations, collector cost), each headed by its source, trust level and time.
/// `all`: list every process and module (otherwise counts and a short list).
std::string formatGuest(const proto::GuestState& g, bool all);

/// The memory view alone (kernel, integrity, the processes and modules read from guest memory,
/// each marked with whether the agent lists it), as formatGuest shows it; for the VM report.
std::string formatMemoryView(const proto::GuestState& g, bool all);

}  // namespace goldgate::cli

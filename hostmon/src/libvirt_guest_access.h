// GuestAccess over libvirt: virDomainQemuAgentCommand for the agent, virDomainMemoryPeek
// (VIR_MEMORY_PHYSICAL) for memory. Needs a read-write connection.
#pragma once

#include <libvirt/libvirt.h>

#include <string>

#include "collector.h"
#include "goldgate/common/result.h"

namespace goldgate::hostmon {

/// Looks the domain up by UUID on `conn` and returns functions that reach it. The functions hold
/// their own references to the connection and the domain (released when the last copy goes), so
/// the caller may close its reference at once. Agent errors are classified as AgentCommandFn
/// says: not connected, timed out, unresponsive or unsynced → kIo ("silent"); anything else
/// (the agent's error reply, an unsupported driver) → kInvalidArgument. Errors: no connection,
/// no such domain. Any thread (libvirt connections are thread-safe).
Result<GuestAccess> libvirtGuestAccess(virConnectPtr conn, const std::string& uuid);

}  // namespace goldgate::hostmon

#include "libvirt_guest_access.h"

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <memory>

namespace goldgate::hostmon {
namespace {

struct DomainRef {
  virConnectPtr conn = nullptr;
  virDomainPtr dom = nullptr;
  ~DomainRef() {
    if (dom) virDomainFree(dom);
    if (conn) virConnectClose(conn);
  }
};

std::string lastError() {
  const char* m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

bool silentAgent(int code) {
  switch (code) {
    case VIR_ERR_AGENT_UNRESPONSIVE:
    case VIR_ERR_AGENT_UNSYNCED:
    case VIR_ERR_OPERATION_INVALID:  // "QEMU guest agent is not connected", domain not running
    case VIR_ERR_OPERATION_TIMEOUT: return true;
    default: return false;
  }
}

}  // namespace

Result<GuestAccess> libvirtGuestAccess(virConnectPtr conn, const std::string& uuid) {
  if (!conn) return makeError(Error::Code::kIo, "not connected to libvirt");
  auto ref = std::make_shared<DomainRef>();
  virConnectRef(conn);
  ref->conn = conn;
  ref->dom = virDomainLookupByUUIDString(conn, uuid.c_str());
  if (!ref->dom) return makeError(Error::Code::kNotFound, "domain " + uuid + ": " + lastError());
  GuestAccess a;
  a.agent = [ref](const std::string& request, int timeoutSeconds) -> Result<std::string> {
    char* reply = virDomainQemuAgentCommand(ref->dom, request.c_str(), timeoutSeconds, 0);
    if (!reply) {
      const virError* e = virGetLastError();
      int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
      std::string msg = lastError();
      // Not the agent's fault: the domain stopped, or a restarted libvirtd has not taken its
      // QEMU processes back yet.
      // (libvirtd that is shutting down says so while it still lists the domain as active.)
      if (virDomainIsActive(ref->dom) != 1 ||
          (code == VIR_ERR_OPERATION_INVALID && msg.find(kDomainNotRunning) != std::string::npos))
        return makeError(Error::Code::kNotFound, kDomainNotRunning);
      return makeError(silentAgent(code) ? Error::Code::kIo : Error::Code::kInvalidArgument, msg);
    }
    std::string out(reply);
    std::free(reply);
    return out;
  };
  a.peek = [ref](uint64_t start, size_t size, uint8_t* buf) -> Result<void> {
    if (virDomainMemoryPeek(ref->dom, start, size, buf, VIR_MEMORY_PHYSICAL) != 0) {
      std::string msg = lastError();
      if (virDomainIsActive(ref->dom) != 1) return makeError(Error::Code::kNotFound, kDomainNotRunning);
      return makeError(Error::Code::kIo, msg);
    }
    return {};
  };
  return a;
}

}  // namespace goldgate::hostmon

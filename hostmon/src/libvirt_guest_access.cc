#include "libvirt_guest_access.h"

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include <dirent.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

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

// The QEMU process that runs the domain: the one whose command line carries "-uuid UUID" (libvirt
// always passes it), found in /proc without knowing where libvirtd keeps its pid files.
pid_t qemuPid(const std::string& uuid) {
  DIR* d = opendir("/proc");
  if (!d) return -1;
  pid_t found = -1;
  const std::string needle = std::string("-uuid") + '\0' + uuid + '\0';
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    std::ifstream f("/proc/" + std::string(e->d_name) + "/cmdline", std::ios::binary);
    std::ostringstream c;
    c << f.rdbuf();
    if (c.str().find(needle) != std::string::npos) {
      found = static_cast<pid_t>(pid);
      break;
    }
  }
  closedir(d);
  return found;
}

// "Host virtual address for 0x0 (pc.ram) is 0x7f…": the number after " is ".
std::optional<uint64_t> hvaOf(const std::string& reply) {
  const size_t at = reply.rfind(" is 0x");
  if (at == std::string::npos) return std::nullopt;
  char* end = nullptr;
  const uint64_t v = std::strtoull(reply.c_str() + at + 4, &end, 16);
  return end && end != reply.c_str() + at + 4 ? std::optional<uint64_t>(v) : std::nullopt;
}

// Guest RAM read straight from the QEMU process: one system call per read instead of a libvirt
// round trip. Set up when QEMU's monitor says guest RAM from 0 to the top is one block mapped
// linearly in the QEMU process (it checks the first and the last page), and only while that
// process is the domain's.
struct FastRam {
  pid_t pid = -1;
  uint64_t hva = 0, top = 0;
};

std::optional<FastRam> setUpFastRam(const MonitorCommandFn& monitor, const std::string& uuid, uint64_t ramTop,
                                    std::string& why) {
  if (!ramTop) {
    why = "guest RAM size unknown";
    return std::nullopt;
  }
  const pid_t pid = qemuPid(uuid);
  if (pid <= 0) {
    why = "no local QEMU process runs this domain";
    return std::nullopt;
  }
  auto first = monitor("gpa2hva 0x0");
  char last[40];
  std::snprintf(last, sizeof last, "gpa2hva 0x%llx", static_cast<unsigned long long>(ramTop - 4096));
  auto end = monitor(last);
  if (!first || !end) {
    why = "QEMU's monitor did not map guest RAM (gpa2hva): " + (first ? end : first).error().message;
    return std::nullopt;
  }
  const auto h0 = hvaOf(*first), h1 = hvaOf(*end);
  if (!h0 || !h1 || *h1 != *h0 + ramTop - 4096) {
    why = "guest RAM is not one linear block in the QEMU process";
    return std::nullopt;
  }
  FastRam f{pid, *h0, ramTop};
  uint8_t probe[8];
  iovec local{probe, sizeof probe}, remote{reinterpret_cast<void*>(f.hva), sizeof probe};
  if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(sizeof probe)) {
    why = std::string("process_vm_readv on the QEMU process: ") + std::strerror(errno);
    return std::nullopt;
  }
  return f;
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
  a.slow_peek = [ref](uint64_t start, size_t size, uint8_t* buf) -> Result<void> {
    if (virDomainMemoryPeek(ref->dom, start, size, buf, VIR_MEMORY_PHYSICAL) != 0) {
      std::string msg = lastError();
      if (virDomainIsActive(ref->dom) != 1) return makeError(Error::Code::kNotFound, kDomainNotRunning);
      return makeError(Error::Code::kIo, msg);
    }
    return {};
  };
  a.monitor = [ref](const std::string& command) -> Result<std::string> {
    char* reply = nullptr;
    if (virDomainQemuMonitorCommand(ref->dom, command.c_str(), &reply, VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP) != 0) {
      std::string msg = lastError();
      if (virDomainIsActive(ref->dom) != 1) return makeError(Error::Code::kNotFound, kDomainNotRunning);
      return makeError(Error::Code::kIo, msg);
    }
    std::string out(reply ? reply : "");
    std::free(reply);
    return out;
  };
  virDomainInfo info{};
  if (virDomainGetInfo(ref->dom, &info) == 0 && info.maxMem) {
    // The guest-physical top of RAM: RAM is one block from 0 while it fits below the PCI hole
    // (2.75 GiB covers both machine types' split); past that the rest sits above 4 GiB.
    const uint64_t bytes = uint64_t{info.maxMem} << 10;
    a.ram_top = bytes <= 0xb0000000ull ? bytes : (uint64_t{4} << 30) + bytes;
  }
  a.peek = a.slow_peek;
  a.peek_method = "virDomainMemoryPeek";
  auto fast = setUpFastRam(a.monitor, uuid, a.ram_top <= 0xb0000000ull ? a.ram_top : 0, a.peek_note);
  if (fast) {
    const FastRam f = *fast;
    auto slow = a.slow_peek;
    a.peek_method = "process_vm_readv";
    a.peek = [f, slow](uint64_t start, size_t size, uint8_t* buf) -> Result<void> {
      if (start >= f.top || size > f.top - start) return slow(start, size, buf);  // not RAM: let libvirt say
      iovec local{buf, size}, remote{reinterpret_cast<void*>(f.hva + start), size};
      if (process_vm_readv(f.pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size)) return {};
      return slow(start, size, buf);  // the process went (the domain stopped): libvirt says why
    };
  }
  return a;
}

}  // namespace goldgate::hostmon

#include "responses.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <ctime>

#include "goldgate/dataplane/control_client.h"

namespace goldgate::hostmon {
namespace {

std::string libvirtError() {
  const char* m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

}  // namespace

Result<std::string> LiveResponses::run(const std::string& action, const std::string& vm, const std::string& uuid,
                                       const std::string& app) {
  if (action == "quarantine") return quarantine(vm, true);
  if (action == "harden") {
    if (!sync_)
      return makeError(Error::Code::kInvalidArgument,
                       "hostmon does not push VM identity to a switch (switch.push: false)");
    std::string segment = app + ".hardened";
    if (auto r = sync_->overrideSegment(uuid, segment); !r) return r.error();
    return "segment " + segment;
  }
  if (action == "suspend" || action == "snapshot" || action == "poweroff") return libvirt(action, uuid);
  return makeError(Error::Code::kInvalidArgument, "unknown response action '" + action + "'");
}

Result<std::string> LiveResponses::undo(const std::string& action, const std::string& vm, const std::string& uuid) {
  if (action == "quarantine") return quarantine(vm, false);
  if (action == "harden") {
    if (!sync_) return makeError(Error::Code::kInvalidArgument, "hostmon does not push VM identity to a switch");
    if (auto r = sync_->overrideSegment(uuid, ""); !r) return r.error();
    return std::string("back in its own segment");
  }
  if (action == "suspend") return libvirt("resume", uuid);
  return makeError(Error::Code::kInvalidArgument, "'" + action + "' cannot be undone");
}

Result<std::string> LiveResponses::quarantine(const std::string& vm, bool on) {
  if (socket_.empty()) return makeError(Error::Code::kInvalidArgument, "no switch control socket configured");
  proto::Request req;
  (on ? req.mutable_quarantine() : req.mutable_release())->set_target(vm);
  auto resp = dataplane::callSwitch(socket_, req, 3000);
  if (!resp) return resp.error();
  if (!resp->ok()) return makeError(Error::Code::kInvalidArgument, "the switch refused: " + resp->error());
  return std::string(on ? "the switch quarantined " : "the switch released ") + vm;
}

Result<std::string> LiveResponses::libvirt(const std::string& action, const std::string& uuid) {
  virConnectPtr c = monitor_.connection();
  if (!c) return makeError(Error::Code::kIo, "not connected to libvirt");
  virDomainPtr dom = virDomainLookupByUUIDString(c, uuid.c_str());
  if (!dom) {
    std::string e = libvirtError();
    virConnectClose(c);
    return makeError(Error::Code::kNotFound, "domain " + uuid + ": " + e);
  }
  Result<std::string> out = std::string();
  if (action == "suspend") {
    if (virDomainSuspend(dom) < 0) out = makeError(Error::Code::kIo, "suspend: " + libvirtError());
    else out = std::string("paused by libvirt");
  } else if (action == "resume") {
    if (virDomainResume(dom) < 0) out = makeError(Error::Code::kIo, "resume: " + libvirtError());
    else out = std::string("resumed by libvirt");
  } else if (action == "poweroff") {
    if (virDomainDestroy(dom) < 0) out = makeError(Error::Code::kIo, "power off: " + libvirtError());
    else out = std::string("powered off (destroyed) by libvirt");
  } else if (action == "snapshot") {
    char stamp[32];
    std::time_t t = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", std::gmtime(&t));
    std::string name = std::string("goldgate-") + stamp;
    std::string xml =
        "<domainsnapshot><name>" + name +
        "</name><description>taken by goldgate-hostmon as a response to a red flag</description></domainsnapshot>";
    virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(dom, xml.c_str(), VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC);
    if (!snap) out = makeError(Error::Code::kIo, "snapshot: " + libvirtError());
    else {
      virDomainSnapshotFree(snap);
      out = "snapshot " + name;
    }
  }
  virDomainFree(dom);
  virConnectClose(c);
  return out;
}

}  // namespace goldgate::hostmon

#include "goldgate/dataplane/control_client.h"

namespace goldgate::dataplane {

Result<proto::Response> callSwitch(const std::string& socketPath, const proto::Request& req, int timeoutMs) {
  std::string bytes;
  req.SerializeToString(&bytes);
  auto frame =
      ipc::callUnix(socketPath, bytes, timeoutMs, "goldgate-switch", "is the switch running? is --socket right?");
  if (!frame) return frame.error();
  proto::Response resp;
  if (!resp.ParseFromString(*frame)) return makeError(Error::Code::kParse, "malformed response from " + socketPath);
  return resp;
}

}  // namespace goldgate::dataplane

#include "goldgate/hostmon/client.h"

#include "goldgate/common/unix_socket.h"

namespace goldgate::hostmon {

Result<proto::HostmonResponse> callHostmon(const std::string& socketPath, const proto::HostmonRequest& req, int timeoutMs) {
  std::string bytes;
  req.SerializeToString(&bytes);
  auto frame = ipc::callUnix(socketPath, bytes, timeoutMs, "goldgate-hostmon",
                             "is goldgate-hostmon running? is --hostmon-socket right?");
  if (!frame) return frame.error();
  proto::HostmonResponse resp;
  if (!resp.ParseFromString(*frame)) return makeError(Error::Code::kParse, "malformed response from " + socketPath);
  return resp;
}

}  // namespace goldgate::hostmon

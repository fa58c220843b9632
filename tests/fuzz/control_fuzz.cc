// libFuzzer target: control messages as the switch reads them off its socket (framing, then the
// protobuf Request). Any input must give a request or a clean error.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "control.pb.h"
#include "goldgate/dataplane/control_client.h"

using namespace goldgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  // The whole input fits in the socket buffer (<= 64 KiB); the reader sees EOF after it.
  ssize_t w = write(sv[0], data, size);
  (void)w;
  close(sv[0]);
  timeval tv{0, 100000};
  setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto frame = dataplane::readFrame(sv[1]);
  close(sv[1]);
  if (!frame) return 0;
  proto::Request req;
  if (req.ParseFromString(*frame)) {
    std::string again;
    req.SerializeToString(&again);
  }
  return 0;
}

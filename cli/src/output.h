// Printing a daemon's answer: either control API's response (both have ok and error), as rendered
// text or as raw JSON, with goldgatectl's exit codes.
#pragma once

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

#include "goldgate/common/result.h"

namespace goldgate::cli {

/// Prints a message as JSON with the proto field names (goldgatectl's --json form). Main thread.
inline void printJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
}

/// Prints `resp` (the rendered text, or JSON with the proto field names) and returns 0; an error
/// (no answer, or ok=false) goes to standard error and returns 1. Main thread.
template <typename Response>
int show(const Result<Response>& resp, bool json, const std::function<std::string(const Response&)>& render) {
  if (!resp) {
    std::fprintf(stderr, "goldgatectl: %s\n", resp.error().message.c_str());
    return 1;
  }
  if (!resp->ok()) {
    std::fprintf(stderr, "goldgatectl: %s\n", resp->error().c_str());
    return 1;
  }
  if (json) {
    printJson(*resp);
  } else {
    std::cout << render(*resp);
  }
  return 0;
}

}  // namespace goldgate::cli

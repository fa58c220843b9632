// Printing a daemon's answer: either control API's response (both have ok and error), or the body
// of one that a typed client call has already checked, as rendered text or as raw JSON, with
// goldgatectl's exit codes.
#pragma once

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

#include "goldgate/common/result.h"

namespace goldgate::cli {

/// A message as JSON with the proto field names, indented: goldgatectl's --json form. Any thread.
inline std::string toJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

/// Prints toJson(m). Main thread.
inline void printJson(const google::protobuf::Message& m) { std::cout << toJson(m); }

/// Prints `resp` (the rendered text, or JSON with the proto field names) and returns 0; an error
/// (no answer, or ok=false for a whole response that has one) goes to standard error and returns 1.
/// Main thread.
template <typename Response>
int show(const Result<Response>& resp, bool json, const std::function<std::string(const Response&)>& render) {
  if (!resp) {
    std::fprintf(stderr, "goldgatectl: %s\n", resp.error().message.c_str());
    return 1;
  }
  if constexpr (requires { resp->ok(); }) {
    if (!resp->ok()) {
      std::fprintf(stderr, "goldgatectl: %s\n", resp->error().c_str());
      return 1;
    }
  }
  if (json) {
    printJson(*resp);
  } else {
    std::cout << render(*resp);
  }
  return 0;
}

}  // namespace goldgate::cli

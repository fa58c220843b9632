// DSSE envelopes: PAE, JSON in and out (protobuf's JSON mapping of proto/dsse.proto), signing.
#include "goldgate/attest/dsse.h"

#include <google/protobuf/util/json_util.h>

namespace goldgate::attest {

std::string pae(std::string_view payloadType, std::string_view payload) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payloadType.size());
  out += ' ';
  out += payloadType;
  out += ' ';
  out += std::to_string(payload.size());
  out += ' ';
  out += payload;
  return out;
}

Result<proto::DsseEnvelope> parseEnvelope(std::string_view json) {
  auto bad = [](const std::string& why) { return makeError(Error::Code::kParse, why); };
  if (json.size() > kMaxEnvelopeBytes) return bad("larger than " + std::to_string(kMaxEnvelopeBytes) + " bytes");
  proto::DsseEnvelope env;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  auto st =
      google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece(json.data(), json.size()), &env, o);
  if (!st.ok()) return bad("not a DSSE envelope: " + std::string(st.message()));
  if (env.payload_type().empty()) return bad("no payloadType");
  if (env.signatures_size() == 0) return bad("no signatures");
  if (static_cast<size_t>(env.signatures_size()) > kMaxSignatures)
    return bad(std::to_string(env.signatures_size()) + " signatures (at most " + std::to_string(kMaxSignatures) + ")");
  for (int i = 0; i < env.signatures_size(); ++i)
    if (env.signatures(i).sig().empty()) return bad("signature " + std::to_string(i + 1) + " has no sig");
  return env;
}

std::string envelopeToJson(const proto::DsseEnvelope& env) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(env, &out, o);
  return out;
}

Result<std::string> signEnvelope(std::string_view payload, const PrivateKey& key, const std::string* existing,
                                 std::string_view payloadType) {
  proto::DsseEnvelope env;
  if (existing) {
    auto old = parseEnvelope(*existing);
    if (!old) return old.error();
    env = std::move(*old);
    if (env.payload_type() != payloadType)
      return makeError(Error::Code::kInvalidArgument,
                       "the envelope's payloadType is '" + env.payload_type() + "', not " + std::string(payloadType));
    if (env.payload() != payload)
      return makeError(Error::Code::kInvalidArgument, "the envelope is over other bytes than the file");
    for (const auto& s : env.signatures())
      if (s.keyid() == key.keyid())
        return makeError(Error::Code::kInvalidArgument, "already signed by key " + key.keyid());
    if (static_cast<size_t>(env.signatures_size()) >= kMaxSignatures)
      return makeError(Error::Code::kInvalidArgument,
                       "the envelope holds " + std::to_string(kMaxSignatures) + " signatures already");
  } else {
    env.set_payload_type(std::string(payloadType));
    env.set_payload(std::string(payload));
  }
  auto sig = key.sign(pae(env.payload_type(), env.payload()));
  if (!sig) return sig.error();
  auto* s = env.add_signatures();
  s->set_keyid(key.keyid());
  s->set_sig(*sig);
  return envelopeToJson(env);
}

}  // namespace goldgate::attest

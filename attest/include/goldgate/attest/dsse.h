// DSSE envelopes (github.com/secure-systems-lab/dsse, v1.0) for manifests. The envelope is JSON:
//
//   {"payloadType": "application/vnd.goldgate.manifest+yaml",
//    "payload": "<base64 of the manifest file's exact bytes>",
//    "signatures": [{"keyid": "<32 hex>", "sig": "<base64 Ed25519 signature>"}, ...]}
//
// Each signature is over PAE(payloadType, payload), never over the bare payload, so that a
// signature cannot be replayed under another payload type.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dsse.pb.h"
#include "goldgate/attest/keys.h"
#include "goldgate/common/result.h"

namespace goldgate::attest {

/// The payload type of a signed manifest.
inline constexpr std::string_view kManifestPayloadType = "application/vnd.goldgate.manifest+yaml";
/// The most signatures an envelope may carry; more is malformed.
inline constexpr size_t kMaxSignatures = 32;
/// The largest envelope accepted (bytes of JSON): a maximal manifest in base64 and the signatures.
inline constexpr size_t kMaxEnvelopeBytes = 2u << 20;

/// DSSE's pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body, with
/// the lengths in ASCII decimal. Any thread.
std::string pae(std::string_view payloadType, std::string_view payload);

/// Parses envelope JSON. Errors (kParse, with the reason): not JSON of the envelope's shape, unknown
/// fields, no payloadType, no signatures, a signature without `sig`, more than kMaxSignatures, larger
/// than kMaxEnvelopeBytes. The payload type is not checked here. Any thread.
Result<proto::DsseEnvelope> parseEnvelope(std::string_view json);

/// The envelope as JSON (one field a line, a final newline). Any thread.
std::string envelopeToJson(const proto::DsseEnvelope& env);

/// Signs `payload` as `payloadType` (a manifest unless said) with `key` and returns the envelope JSON. With `existing`
/// (the JSON of an envelope already signed over the same payload) the new signature is added to its signatures, for
/// threshold signing. Errors: kParse when `existing` is not an envelope; kInvalidArgument when its payload or payload
/// type differ, when `key` has signed it already, or when it holds kMaxSignatures; kInternal when signing fails. Any
/// thread.
Result<std::string> signEnvelope(std::string_view payload, const PrivateKey& key, const std::string* existing,
                                 std::string_view payloadType = kManifestPayloadType);

}  // namespace goldgate::attest

// The metadata of a TLS ClientHello, read from the first bytes a client sends: the server name
// (SNI), ALPN protocols, offered versions, and a JA4-style fingerprint of the client. The switch
// cannot read TLS content; this is what a policy for opaque content can say about it ("encrypted
// upload to an unknown host"). Pure and bounded: a record of at most 16 KiB + 256 is read, every
// length is checked against what holds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace goldgate::datapolicy {

struct TlsClientHello {
  uint16_t legacy_version = 0;                 // the ClientHello's own version field (0x0303 for TLS 1.2 and 1.3)
  std::string sni;                             // server_name (host_name), empty when none is sent
  std::vector<std::string> alpn;               // application protocols offered, in order
  std::vector<uint16_t> versions;              // supported_versions, GREASE left out
  std::vector<uint16_t> ciphers;               // cipher suites, in order, GREASE left out
  std::vector<uint16_t> extensions;            // extension types, in order, GREASE left out
  std::vector<uint16_t> signature_algorithms;  // in order
  uint16_t maxVersion() const;                 // the highest offered: supported_versions, else legacy_version
};

enum class TlsHelloParse : uint8_t {
  kHello,     // a ClientHello, read whole
  kNeedMore,  // the start of a TLS handshake record: more bytes are needed
  kNotTls,    // not a TLS handshake record
  kBad,       // a TLS handshake record, malformed: `why` says how
};

/// Reads the ClientHello at the start of a client's byte stream (one handshake record).
TlsHelloParse parseClientHello(const uint8_t* data, size_t len, TlsClientHello* out, std::string* why);

/// A JA4-style fingerprint: "t" + version ("13", "12", …) + "d" (SNI sent) or "i" + the cipher and
/// extension counts (two digits each) + the first and last characters of the first ALPN ("00" when
/// none), then the first 12 hex digits of the SHA-256 of the sorted cipher list, then of the sorted
/// extension list (without SNI and ALPN) joined with the signature algorithms.
std::string ja4Fingerprint(const TlsClientHello& h);

}  // namespace goldgate::datapolicy

// Unit tests of the ClientHello reader (datapolicy/src/tls_hello.cc) on a ClientHello written by a
// real TLS stack (Python's ssl, OpenSSL underneath, into a memory BIO: no network), every prefix of
// it, other protocols, and damaged lengths.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "command_output.h"
#include "goldgate/datapolicy/tls_hello.h"

using namespace goldgate::datapolicy;

namespace {

// The first flight of a TLS client for `host` offering h2 and http/1.1, as bytes.
std::vector<uint8_t> realClientHello(const std::string& host) {
  const std::string py =
      "import ssl,sys\n"
      "c=ssl.create_default_context()\n"
      "c.set_alpn_protocols(['h2','http/1.1'])\n"
      "i,o=ssl.MemoryBIO(),ssl.MemoryBIO()\n"
      "s=c.wrap_bio(i,o,server_hostname=sys.argv[1])\n"
      "try: s.do_handshake()\n"
      "except ssl.SSLWantReadError: pass\n"
      "sys.stdout.write(o.read().hex())\n";
  const std::string hex = goldgate::test::commandOutput("/usr/bin/python3 -c \"" + py + "\" " + host);
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  REQUIRE(out.size() > 100);
  return out;
}

}  // namespace

TEST_CASE("ClientHello: a real client's hello gives its server name, ALPN and versions", "[tls]") {
  const auto hello = realClientHello("upload.example.net");
  TlsClientHello h;
  std::string why;
  REQUIRE(parseClientHello(hello.data(), hello.size(), &h, &why) == TlsHelloParse::kHello);
  CHECK(h.sni == "upload.example.net");
  CHECK(h.alpn == std::vector<std::string>{"h2", "http/1.1"});
  CHECK(h.maxVersion() == 0x0304);
  CHECK(h.legacy_version == 0x0303);
  CHECK_FALSE(h.ciphers.empty());
  CHECK_FALSE(h.signature_algorithms.empty());
  const std::string fp = ja4Fingerprint(h);
  INFO(fp);
  CHECK(fp.rfind("t13d", 0) == 0);
  CHECK(fp.substr(8, 2) == "h2");
  CHECK(fp.size() == 10 + 1 + 12 + 1 + 12);
  // The same client for another host: the same fingerprint (it describes the client, not the host).
  TlsClientHello other;
  const auto hello2 = realClientHello("other.example.org");
  REQUIRE(parseClientHello(hello2.data(), hello2.size(), &other, &why) == TlsHelloParse::kHello);
  CHECK(ja4Fingerprint(other) == fp);
}

TEST_CASE("ClientHello: every prefix asks for more, other protocols are not TLS", "[tls]") {
  const auto hello = realClientHello("upload.example.net");
  TlsClientHello h;
  std::string why;
  for (size_t n = 0; n < hello.size(); ++n) {
    INFO("prefix " << n);
    REQUIRE(parseClientHello(hello.data(), n, &h, &why) == TlsHelloParse::kNeedMore);
  }
  const std::string http = "POST /upload HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(parseClientHello(reinterpret_cast<const uint8_t*>(http.data()), http.size(), &h, &why) ==
        TlsHelloParse::kNotTls);
  const uint8_t ssh[] = {'S', 'S', 'H', '-', '2'};
  CHECK(parseClientHello(ssh, sizeof ssh, &h, &why) == TlsHelloParse::kNotTls);
}

TEST_CASE("ClientHello: damaged lengths are refused with a reason, never read past", "[tls]") {
  const auto hello = realClientHello("upload.example.net");
  TlsClientHello h;
  std::string why;
  // Every length field the record carries, made too long by one, one byte at a time.
  size_t bad = 0;
  for (size_t i = 5; i < hello.size(); ++i) {
    auto copy = hello;
    copy[i] = static_cast<uint8_t>(copy[i] + 1);
    const auto r = parseClientHello(copy.data(), copy.size(), &h, &why);
    if (r == TlsHelloParse::kBad) {
      ++bad;
      CHECK_FALSE(why.empty());
    }
  }
  CHECK(bad > 5);
  auto notHello = hello;
  notHello[5] = 2;  // a ServerHello's type
  CHECK(parseClientHello(notHello.data(), notHello.size(), &h, &why) == TlsHelloParse::kBad);
  CHECK(why == "not a ClientHello");
}

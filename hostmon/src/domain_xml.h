// What goldgate-hostmon reads from a libvirt domain's XML: identity, vNICs, other devices and the
// Goldgate labels in <metadata>. Pure parsing: no libvirt connection is needed.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::hostmon {

/// Namespace URI of Goldgate's element inside a domain's <metadata>.
inline constexpr const char* kMetadataNs = "https://goldgate.dev/xmlns/vm/1";

/// A virtual NIC (<devices><interface>).
struct Nic {
  std::string type;         // interface type: vhostuser, bridge, network, direct, ethernet, user, …
  std::string mac;          // lower case, "" if the XML has none
  std::string source_type;  // vhostuser: "unix"; otherwise the interface type
  std::string source;       // vhostuser: socket path; bridge / network / direct: its name
  std::string source_mode;  // vhostuser: server or client; direct: the macvtap mode
  std::string target_dev;   // <target dev=…> (host-side device name), if any
  std::string model;        // <model type=…>
  std::string alias;        // <alias name=…> (set by libvirt on running domains)

  bool operator==(const Nic&) const = default;
};

/// Any other device (disk, channel, console, …), described by a few attributes.
struct Device {
  std::string kind;    // element name: disk, channel, serial, console, filesystem, hostdev, …
  std::string type;    // its type attribute
  std::string target;  // disk: target dev; channel: target name (e.g. org.qemu.guest_agent.0)
  std::string source;  // disk: file / dev / volume; channel: unix path
  std::string alias;

  bool operator==(const Device&) const = default;
};

/// Labels from <metadata><gg:vm xmlns:gg="https://goldgate.dev/xmlns/vm/1">.
struct Labels {
  std::string app;
  std::string segment;
  std::string manifest;
  std::map<std::string, std::string> extra;  // <gg:label key="k">v</gg:label>
  // <gg:address mac="52:54:00:00:00:01">10.0.0.1</gg:address>: the addresses the host binds to a
  // NIC (anti-spoofing), by MAC (lower case); the guest cannot change them.
  std::map<std::string, std::vector<std::string>> addresses;

  bool operator==(const Labels&) const = default;
};

/// Everything taken from one domain XML document.
struct DomainInfo {
  std::string name;
  std::string uuid;  // lower case, as libvirt prints it
  std::vector<Nic> nics;
  std::vector<Device> devices;
  Labels labels;
  bool has_labels = false;         // the Goldgate metadata element is present
  bool has_agent_channel = false;  // a channel named org.qemu.guest_agent.0
  std::string agent_state;         // its target's state in a running domain: "connected", "disconnected" or

  bool operator==(const DomainInfo&) const = default;
};

/// Parses domain XML (as virDomainGetXMLDesc returns it). The parser loads no DTD, expands no
/// entities and opens no network resources; documents over 8 MiB or nested deeper than libxml2's
/// default limit are refused. Errors (kParse): not well-formed XML ("line N: …"), root element not
/// <domain>, no <name> or <uuid>, a malformed UUID or MAC, a Goldgate label without a key, a
/// Goldgate address that is not an IPv4 or IPv6 address or names no valid MAC.
/// Any thread (libxml2 is initialised once on first use).
Result<DomainInfo> parseDomainXml(std::string_view xml);

/// The addresses the domain binds to each of its vhost-user NICs, by MAC: its Goldgate metadata
/// (host truth). A NIC without any has an empty list (it has no address: the switch passes only
/// address acquisition from it).
std::map<std::string, std::vector<std::string>> boundAddresses(const DomainInfo& info);

}  // namespace goldgate::hostmon

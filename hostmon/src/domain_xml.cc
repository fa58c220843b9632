#include "domain_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace goldgate::hostmon {
namespace {

constexpr size_t kMaxDomainXml = 8u << 20;

Error parseError(std::string why) { return makeError(Error::Code::kParse, "domain XML: " + std::move(why)); }

bool is(const xmlNode* n, const char* name) {
  return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

bool inGoldgateNs(const xmlNode* n) {
  return n->ns && n->ns->href && xmlStrcmp(n->ns->href, reinterpret_cast<const xmlChar*>(kMetadataNs)) == 0;
}

std::string attr(const xmlNode* n, const char* name) {
  if (!n) return {};
  // Only a plain attribute value: xmlGetProp could walk into DTD defaults, which are refused anyway.
  for (const xmlAttr* a = n->properties; a; a = a->next) {
    if (a->ns || xmlStrcmp(a->name, reinterpret_cast<const xmlChar*>(name)) != 0) continue;
    std::string out;
    for (const xmlNode* c = a->children; c; c = c->next)
      if (c->type == XML_TEXT_NODE && c->content) out += reinterpret_cast<const char*>(c->content);
    return out;
  }
  return {};
}

// The element's own text and CDATA, never the content of entity references: entities are not
// expanded anywhere, so a hostile document cannot grow here.
std::string text(const xmlNode* n) {
  std::string out;
  for (const xmlNode* c = n->children; c; c = c->next)
    if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
      out += reinterpret_cast<const char*>(c->content);
  size_t b = out.find_first_not_of(" \t\r\n"), e = out.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

const xmlNode* child(const xmlNode* n, const char* name) {
  for (const xmlNode* c = n ? n->children : nullptr; c; c = c->next)
    if (is(c, name)) return c;
  return nullptr;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// libvirt prints UUIDs as 8-4-4-4-12 hex digits; it accepts them without dashes on input.
Result<std::string> canonicalUuid(const std::string& s) {
  std::string hex;
  for (char ch : s) {
    if (ch == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return parseError("<uuid> '" + s + "' is not a UUID");
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (hex.size() != 32) return parseError("<uuid> '" + s + "' is not a UUID");
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

bool validMac(const std::string& m) {
  if (m.size() != 17) return false;
  for (size_t i = 0; i < m.size(); ++i) {
    if (i % 3 == 2) {
      if (m[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(m[i]))) {
      return false;
    }
  }
  return true;
}

Result<Nic> parseInterface(const xmlNode* n) {
  Nic nic;
  nic.type = attr(n, "type");
  if (const xmlNode* m = child(n, "mac")) {
    nic.mac = lower(attr(m, "address"));
    if (!validMac(nic.mac)) return parseError("interface MAC '" + attr(m, "address") + "' is not xx:xx:xx:xx:xx:xx");
  }
  const xmlNode* src = child(n, "source");
  if (nic.type == "vhostuser") {
    nic.source_type = attr(src, "type");
    nic.source = attr(src, "path");
    nic.source_mode = attr(src, "mode");
  } else {
    nic.source_type = nic.type;
    for (const char* key : {"bridge", "network", "dev", "name", "path"}) {
      nic.source = attr(src, key);
      if (!nic.source.empty()) break;
    }
    nic.source_mode = attr(src, "mode");
  }
  nic.target_dev = attr(child(n, "target"), "dev");
  nic.model = attr(child(n, "model"), "type");
  nic.alias = attr(child(n, "alias"), "name");
  return nic;
}

Device parseDevice(const xmlNode* n) {
  Device d;
  d.kind = reinterpret_cast<const char*>(n->name);
  d.type = attr(n, "type");
  const xmlNode* tgt = child(n, "target");
  d.target = attr(tgt, "dev");
  if (d.target.empty()) d.target = attr(tgt, "name");
  if (const xmlNode* src = child(n, "source")) {
    for (const char* key : {"file", "dev", "path", "volume", "dir", "name", "network"}) {
      d.source = attr(src, key);
      if (!d.source.empty()) break;
    }
  }
  d.alias = attr(child(n, "alias"), "name");
  return d;
}

Result<void> parseLabels(const xmlNode* vm, Labels& out) {
  for (const xmlNode* c = vm->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE || !inGoldgateNs(c)) continue;
    if (is(c, "app")) out.app = text(c);
    else if (is(c, "segment")) out.segment = text(c);
    else if (is(c, "manifest")) out.manifest = text(c);
    else if (is(c, "address")) {
      const std::string line = "line " + std::to_string(xmlGetLineNo(c)) + ": ";
      const std::string mac = lower(attr(c, "mac")), ip = text(c);
      if (!validMac(mac))
        return parseError(line + "Goldgate <address> needs mac=\"xx:xx:xx:xx:xx:xx\", got '" + attr(c, "mac") + "'");
      unsigned char buf[16];
      if (ip.find('/') != std::string::npos ||
          (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1))
        return parseError(line + "Goldgate <address> '" + ip + "' is not an IPv4 or IPv6 address (no prefix length)");
      auto& list = out.addresses[mac];
      if (std::find(list.begin(), list.end(), ip) == list.end()) list.push_back(ip);
    } else if (is(c, "label")) {
      std::string key = attr(c, "key");
      if (key.empty())
        return parseError("line " + std::to_string(xmlGetLineNo(c)) + ": Goldgate <label> without a key");
      out.extra[key] = text(c);
    }
    // Other elements in the namespace are left to later versions of the schema.
  }
  return {};
}

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

}  // namespace

std::map<std::string, std::vector<std::string>> boundAddresses(const DomainInfo& info) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& nic : info.nics) {
    if (nic.type != "vhostuser" || nic.mac.empty()) continue;
    auto it = info.labels.addresses.find(nic.mac);
    out[nic.mac] = it == info.labels.addresses.end() ? std::vector<std::string>{} : it->second;
  }
  return out;
}

Result<DomainInfo> parseDomainXml(std::string_view xml) {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
  if (xml.size() > kMaxDomainXml)
    return parseError(std::to_string(xml.size()) + " bytes exceeds the limit of " + std::to_string(kMaxDomainXml));
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) return makeError(Error::Code::kResource, "domain XML: cannot allocate a parser");
  // NONET: no fetching of anything. Deliberately absent: NOENT (entity substitution), DTDLOAD,
  // DTDATTR, XINCLUDE, HUGE (lifts the depth and size limits).
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
  std::unique_ptr<xmlDoc, DocFree> doc(
      xmlCtxtReadMemory(ctxt.get(), xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr, options));
  if (!doc) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string why = e && e->message ? e->message : "not well-formed";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return parseError("line " + std::to_string(e ? e->line : 0) + ": " + why);
  }
  // libvirt never writes a document type declaration; one here can only be an attempt at entity tricks.
  if (doc->intSubset || doc->extSubset) return parseError("a document type declaration (<!DOCTYPE>) is not allowed");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root || !is(root, "domain") || root->ns) return parseError("the root element is not <domain>");

  DomainInfo info;
  const xmlNode* name = child(root, "name");
  if (!name || text(name).empty()) return parseError("no <name>");
  info.name = text(name);
  const xmlNode* uuid = child(root, "uuid");
  if (!uuid) return parseError("no <uuid>");
  auto u = canonicalUuid(text(uuid));
  if (!u) return u.error();
  info.uuid = std::move(*u);

  if (const xmlNode* md = child(root, "metadata")) {
    for (const xmlNode* c = md->children; c; c = c->next) {
      if (!is(c, "vm") || !inGoldgateNs(c)) continue;
      if (auto r = parseLabels(c, info.labels); !r) return r.error();
      info.has_labels = true;
      break;
    }
  }
  if (const xmlNode* devs = child(root, "devices")) {
    for (const xmlNode* c = devs->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE || c->ns) continue;
      if (is(c, "interface")) {
        auto nic = parseInterface(c);
        if (!nic) return nic.error();
        info.nics.push_back(std::move(*nic));
      } else if (!is(c, "emulator")) {
        Device d = parseDevice(c);
        if (d.kind == "channel" && d.target == "org.qemu.guest_agent.0") {
          info.has_agent_channel = true;
          // A running domain's XML says whether the agent is connected (<target … state=…>):
          // the only way to know it for an agent that connected before hostmon was watching.
          if (const xmlNode* t = child(c, "target")) info.agent_state = attr(t, "state");
        }
        info.devices.push_back(std::move(d));
      }
    }
  }
  return info;
}

}  // namespace goldgate::hostmon

// Manifest files read whole (common/files.h: bounded reads, durable writes).
#include "file_io.h"

#include "goldgate/attest/manifest.h"

namespace goldgate::attest {

Result<proto::Manifest> loadManifestFile(const std::string& path) {
  auto text = readFileLimited(path, kMaxManifestBytes);
  if (!text) return text.error();
  return parseManifest(*text, path);
}

}  // namespace goldgate::attest

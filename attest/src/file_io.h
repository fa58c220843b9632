// Whole-file writes for keys and the version store (internal to attest/).
#pragma once

#include <sys/types.h>

#include <string>

#include "goldgate/common/result.h"

namespace goldgate::attest {

/// Creates `path` with `mode` (open flags O_WRONLY | O_CREAT | O_NOFOLLOW plus `extraFlags`, e.g.
/// O_EXCL or O_TRUNC), writes `data` and fsyncs it; on failure the file is removed. Errors: kIo,
/// "path: reason" ("path: exists; refusing to overwrite it" for O_EXCL). Any thread.
Result<void> writeFileSynced(const std::string& path, const std::string& data, mode_t mode, int extraFlags);

}  // namespace goldgate::attest

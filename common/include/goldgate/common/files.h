// Whole files with POSIX calls: bounded reads that tell "does not exist" from every other failure,
// and durable writes. State that must survive a crash (quarantine, ESP sequence reservations,
// accepted manifest versions) is read and written only through these, so that every such file
// fails closed the same way: a missing file is a first start, anything else is an error.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "goldgate/common/result.h"

namespace goldgate {

/// Reads a whole file of at most `maxBytes`. Errors: kNotFound when it does not exist (ENOENT);
/// kIo ("path: strerror") on any other failure to open or read it (permissions, a folder, an I/O
/// error); kResource when it is larger. Any thread.
Result<std::string> readFileLimited(const std::string& path, size_t maxBytes);

/// Creates `path` with `mode` (open flags O_WRONLY | O_CREAT | O_NOFOLLOW plus `extraFlags`, e.g.
/// O_EXCL or O_TRUNC), writes `data` and fsyncs it; on failure the file is removed. Errors: kIo,
/// "path: reason" ("path: exists; refusing to overwrite it" for O_EXCL). Any thread.
Result<void> writeFileSynced(const std::string& path, std::string_view data, mode_t mode, int extraFlags);

/// Replaces `path` with `data` so that a crash leaves the old file or the new one, never part of
/// one, and the new one is on disk when this returns: `path`.tmp written and fsynced, renamed over
/// `path`, the folder fsynced. On failure `path` is unchanged and the temporary file removed.
/// Errors: kIo, "path: reason" (ENOSPC: "No space left on device"). Any thread (not for one path
/// from two threads at once).
Result<void> replaceFileDurably(const std::string& path, std::string_view data, mode_t mode);

/// Fails with "path: …" if the file at `path` (a key) is open to group or others: kIo when it
/// cannot be looked at, kPermission naming its mode and the chmod that fixes it.
Result<void> checkPrivateFile(const std::string& path);

}  // namespace goldgate

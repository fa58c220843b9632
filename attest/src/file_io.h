// Whole-file writes for keys and the version store (internal to attest/).
#pragma once

#include <sys/types.h>

#include <string>

#include "goldgate/common/files.h"

namespace goldgate::attest {

// Whole-file writes live in common/files.h, shared with the switch's state files.
using ::goldgate::writeFileSynced;

}  // namespace goldgate::attest

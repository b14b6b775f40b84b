// What the tools write to standard output reaches it, or the tool says so: a full disk or
// /dev/full must not end in exit status 0 with the output silently lost.
#pragma once

namespace unimem::support {

/// Flushes stdout and checks its error flag. On a failure prints "TOOL: writing to standard output
/// failed: REASON" to stderr and returns false (the tool then exits with status 1).
bool flush_stdout(const char* tool);

}  // namespace unimem::support

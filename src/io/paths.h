// What a path the user gave names, found with stat() before anything opens
// it: opening a FIFO blocks until a writer comes, and std::filesystem throws
// on over-long paths and symlink loops. Every user-supplied path goes through
// here first, so each of those is a clear error instead of a hang or an
// uncaught exception.
#pragma once

#include <string>

#include "gemma/status.h"

namespace gemma {

enum class PathType { kMissing, kFile, kDirectory, kOther };

// Follows symlinks. ENOENT and ENOTDIR are kMissing; any other failure (a
// symlink loop, a name too long, no permission) throws gemma::Error naming the
// path and the reason.
PathType StatPath(const std::string& path);

// "a FIFO", "a character device", "a socket"... for a path StatPath calls
// kOther; "" when it is a file, folder or missing.
std::string DescribeSpecialFile(const std::string& path);

// Throws gemma::Error unless `path` is a regular file (or a symlink to one):
// kNotFound when missing, else naming what it is ("is a FIFO, not a regular
// file"). `what` names the role in the message ("session file").
void RequireRegularFile(const std::string& path, const std::string& what = "file");

// The same as a Status, for API functions that return one and never throw.
Status CheckRegularFile(const std::string& path, const std::string& what = "file");

}  // namespace gemma

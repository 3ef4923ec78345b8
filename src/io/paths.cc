#include "io/paths.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace gemma {
namespace {

std::string KindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

PathType StatPath(const std::string& path) {
  if (path.empty()) FailWith(StatusCode::kNotFound, "empty path");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return PathType::kMissing;
    // ELOOP: "Too many levels of symbolic links"; ENAMETOOLONG: "File name
    // too long"; EACCES: "Permission denied".
    Fail(path.size() > 200 ? path.substr(0, 200) + "..." : path, ": ", std::strerror(err));
  }
  if (S_ISREG(st.st_mode)) return PathType::kFile;
  if (S_ISDIR(st.st_mode)) return PathType::kDirectory;
  return PathType::kOther;
}

std::string DescribeSpecialFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return "";
  return KindOf(st.st_mode);
}

void RequireRegularFile(const std::string& path, const std::string& what) {
  switch (StatPath(path)) {
    case PathType::kFile:
      return;
    case PathType::kMissing:
      FailWith(StatusCode::kNotFound, path, ": no such ", what);
    case PathType::kDirectory:
      Fail(path, ": is a folder, not a ", what);
    case PathType::kOther:
      Fail(path, ": is ", DescribeSpecialFile(path), ", not a ", what);
  }
}

Status CheckRegularFile(const std::string& path, const std::string& what) {
  try {
    RequireRegularFile(path, what);
    return Status();
  } catch (const Error& e) {
    return Status(e.code(), e.what());
  }
}

}  // namespace gemma

// Where fuzz targets find the repository's data (test models, golden
// checkpoints): $GEMMA_REPO_DIR if set, else the source tree they were built
// from (GEMMA_SOURCE_DIR, set by fuzz/CMakeLists.txt).
#pragma once

#include <cstdlib>
#include <string>

inline std::string FuzzRepoPath(const std::string& relative) {
  const char* env = std::getenv("GEMMA_REPO_DIR");
  const std::string root = env != nullptr && env[0] != '\0' ? env : GEMMA_SOURCE_DIR;
  return root + "/" + relative;
}

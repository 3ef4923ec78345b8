// A read-only memory-mapped file. Model weights are used straight from the
// mapping (no copy) wherever their layout allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gemma {

class MappedFile {
 public:
  // Throws gemma::Error naming the path if it cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file into a string; throws gemma::Error on failure.
std::string ReadFileToString(const std::string& path);

}  // namespace gemma

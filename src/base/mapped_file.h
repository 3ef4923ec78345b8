// A read-only memory-mapped file. Model weights are used straight from the
// mapping (no copy) wherever their layout allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
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

  // Whether [p, p + n) lies inside this mapping.
  bool Contains(const void* p, size_t n) const;

  // Copies the n bytes of the mapping at p (inside it: Contains) into dst with
  // a file read, so that no page of the mapping is touched. Reading through
  // the mapping instead makes whole page-cache folios resident: on Linux 6.x
  // a file read sequentially sits in the cache in folios of up to 2 MiB, and a
  // fault maps all of one, so a 6 KB norm or a table row lookup could keep
  // 2 MiB in the process's resident set. Throws gemma::Error on a read error.
  void CopyOut(const void* p, size_t n, void* dst) const;

  // Tells the OS that the whole pages inside [p, p + n) are not needed now:
  // they leave the process's resident set (the page cache keeps them) and are
  // read back in if touched again. Ignores ranges outside this mapping.
  void ReleasePages(const void* p, size_t n) const;

 private:
  std::string path_;
  int fd_ = -1;  // kept open for CopyOut
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using HugeBuffer = std::unique_ptr<uint8_t[], FreeDeleter>;

// Memory for large arrays read in full for every token (repacked weights):
// 2 MiB aligned and marked for transparent huge pages, which cuts the TLB
// misses of streaming a gigabyte per token (measured in docs/kernels.md).
// Below 16 MiB: page-aligned, rounded to whole 4 KiB pages and left to
// them. Null if out of memory.
HugeBuffer AllocateHugeBuffer(size_t bytes);
// What AllocateHugeBuffer(bytes) takes: whole huge pages, or whole 4 KiB
// pages below 16 MiB (0 for 0).
size_t HugeBufferBytes(size_t bytes);

// Reads a whole (small) file into a string; throws gemma::Error on failure.
std::string ReadFileToString(const std::string& path);

}  // namespace gemma

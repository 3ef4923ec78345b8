#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace gemma {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: a FIFO (or a device) must not block the open; fstat below
  // refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    FailWith(err == ENOENT ? StatusCode::kNotFound : StatusCode::kInvalidArgument, path,
             ": cannot open: ", std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    Fail(path, ": not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      Fail(path, ": mmap failed: ", std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(mapping);
  }
  fd_ = fd;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

bool MappedFile::Contains(const void* p, size_t n) const {
  const auto lo = reinterpret_cast<uintptr_t>(p);
  const auto base = reinterpret_cast<uintptr_t>(data_);
  return data_ != nullptr && lo >= base && n <= size_ && lo - base <= size_ - n;
}

void MappedFile::CopyOut(const void* p, size_t n, void* dst) const {
  if (!Contains(p, n)) Fail(path_, ": read of ", n, " bytes outside the file");
  auto offset = static_cast<off_t>(static_cast<const uint8_t*>(p) - data_);
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      Fail(path_, ": read failed at byte ", offset, ": ",
           got < 0 ? std::strerror(errno) : "unexpected end of file");
    }
    out += got;
    offset += got;
    n -= static_cast<size_t>(got);
  }
}

std::string ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, ": cannot open: ", std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) Fail(path, ": read error");
  return contents.str();
}

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
// Below this a buffer gets 4 KiB pages: the TLB covers a few MiB of them
// anyway, and whether the kernel backs a partly written huge page (madvise
// mode) depends on what memory is free at the time, which made a small
// model's resident memory vary by a huge page from run to run.
constexpr size_t kHugeMin = size_t{16} << 20;
constexpr size_t kPage = 4096;
}  // namespace

size_t HugeBufferBytes(size_t bytes) {
  if (bytes == 0) return 0;
  const size_t unit = bytes < kHugeMin ? kPage : kHugePage;
  return (bytes + unit - 1) / unit * unit;
}

HugeBuffer AllocateHugeBuffer(size_t bytes) {
  const size_t rounded = HugeBufferBytes(std::max<size_t>(bytes, 1));
  if (rounded < kHugeMin) {
    return HugeBuffer(static_cast<uint8_t*>(std::aligned_alloc(kPage, rounded)));
  }
  void* p = std::aligned_alloc(kHugePage, rounded);
  if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);  // a hint; fine if refused
  return HugeBuffer(static_cast<uint8_t*>(p));
}

void MappedFile::ReleasePages(const void* p, size_t n) const {
  const auto lo = reinterpret_cast<uintptr_t>(p);
  const auto base = reinterpret_cast<uintptr_t>(data_);
  if (lo < base || lo + n > base + size_) return;  // not ours: leave it alone
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (lo + page - 1) / page * page;
  const uintptr_t end = (lo + n) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace gemma

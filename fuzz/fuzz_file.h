// Fuzz inputs go through the real file paths (mmap and all): the bytes are
// placed in an in-memory file and opened by its /proc/self/fd name.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

class FuzzFile {
 public:
  FuzzFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("fuzz", 0);
    if (fd_ >= 0 && size > 0 && write(fd_, data, size) != static_cast<ssize_t>(size)) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~FuzzFile() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

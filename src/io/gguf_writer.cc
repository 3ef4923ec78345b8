#include "io/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace gemma {
namespace {

template <typename T>
void Put(std::vector<uint8_t>& out, T value) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &value, sizeof(T));
}

void PutString(std::vector<uint8_t>& out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void PutNumber(std::vector<uint8_t>& out, GgufType type, double v, int64_t i) {
  switch (type) {
    case GgufType::kU8: Put<uint8_t>(out, static_cast<uint8_t>(i)); break;
    case GgufType::kI8: Put<int8_t>(out, static_cast<int8_t>(i)); break;
    case GgufType::kU16: Put<uint16_t>(out, static_cast<uint16_t>(i)); break;
    case GgufType::kI16: Put<int16_t>(out, static_cast<int16_t>(i)); break;
    case GgufType::kU32: Put<uint32_t>(out, static_cast<uint32_t>(i)); break;
    case GgufType::kI32: Put<int32_t>(out, static_cast<int32_t>(i)); break;
    case GgufType::kF32: Put<float>(out, static_cast<float>(v)); break;
    case GgufType::kBool: Put<uint8_t>(out, i != 0); break;
    case GgufType::kU64: Put<uint64_t>(out, static_cast<uint64_t>(i)); break;
    case GgufType::kI64: Put<int64_t>(out, i); break;
    case GgufType::kF64: Put<double>(out, v); break;
    default: Fail("GgufWriter: not a numeric type");
  }
}

void PutValue(std::vector<uint8_t>& out, const GgufValue& value) {
  Put<uint32_t>(out, static_cast<uint32_t>(value.type));
  if (value.type == GgufType::kString) {
    PutString(out, value.str);
  } else if (value.type == GgufType::kArray) {
    Put<uint32_t>(out, static_cast<uint32_t>(value.array_type));
    if (value.array_type == GgufType::kString) {
      Put<uint64_t>(out, value.strings.size());
      for (const std::string& s : value.strings) PutString(out, s);
    } else {
      Put<uint64_t>(out, value.numbers.size());
      // Float elements (which may be infinite: Gemma 3n's activation
      // sparsity) are written from the double; only integer elements, which
      // are whole numbers in range, go through int64_t.
      const bool is_float =
          value.array_type == GgufType::kF32 || value.array_type == GgufType::kF64;
      for (double n : value.numbers) {
        PutNumber(out, value.array_type, n, is_float ? 0 : static_cast<int64_t>(n));
      }
    }
  } else {
    PutNumber(out, value.type, value.real, value.integer);
  }
}

}  // namespace

void GgufWriter::SetValue(const std::string& key, const GgufValue& value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = value;
      return;
    }
  }
  metadata_.emplace_back(key, value);
}

void GgufWriter::SetString(const std::string& key, const std::string& value) {
  GgufValue v;
  v.type = GgufType::kString;
  v.str = value;
  SetValue(key, v);
}

void GgufWriter::SetU32(const std::string& key, uint32_t value) {
  GgufValue v;
  v.type = GgufType::kU32;
  v.integer = value;
  SetValue(key, v);
}

void GgufWriter::SetF32(const std::string& key, float value) {
  GgufValue v;
  v.type = GgufType::kF32;
  v.real = value;
  SetValue(key, v);
}

void GgufWriter::SetBool(const std::string& key, bool value) {
  GgufValue v;
  v.type = GgufType::kBool;
  v.integer = value;
  SetValue(key, v);
}

void GgufWriter::AddTensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                           std::vector<uint8_t> bytes) {
  const size_t size = bytes.size();
  tensors_.push_back({name, type, shape, size, std::move(bytes)});
}

void GgufWriter::DeclareTensor(const std::string& name, DType type,
                               const std::vector<int64_t>& shape) {
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;
  tensors_.push_back({name, type, shape, BytesFor(type, elements), {}});
}

std::vector<size_t> GgufWriter::TensorSizes() const {
  std::vector<size_t> sizes;
  for (const Tensor& t : tensors_) sizes.push_back(t.size);
  return sizes;
}

std::vector<uint8_t> GgufWriter::SerializeHeader() const {
  std::vector<uint8_t> out;
  Put<uint32_t>(out, 0x46554747);
  Put<uint32_t>(out, 3);
  Put<uint64_t>(out, tensors_.size());
  Put<uint64_t>(out, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    PutString(out, key);
    PutValue(out, value);
  }
  auto padded = [&](size_t n) { return (n + alignment_ - 1) / alignment_ * alignment_; };
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    PutString(out, t.name);
    Put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) Put<uint64_t>(out, *it);
    Put<uint32_t>(out, static_cast<uint32_t>(t.type));
    Put<uint64_t>(out, offset);
    offset = padded(offset + t.size);
  }
  out.resize(padded(out.size()), 0);
  return out;
}

std::vector<uint8_t> GgufWriter::Serialize() const {
  std::vector<uint8_t> out = SerializeHeader();
  auto padded = [&](size_t n) { return (n + alignment_ - 1) / alignment_ * alignment_; };
  for (const Tensor& t : tensors_) {
    if (t.bytes.size() != t.size) Fail("GgufWriter: tensor '", t.name, "' was declared, not added");
    out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    out.resize(padded(out.size()), 0);
  }
  return out;
}

void GgufWriter::Write(const std::string& path) const {
  const std::vector<uint8_t> bytes = Serialize();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) Fail(path, ": cannot write");
}

GgufStreamWriter::GgufStreamWriter(const GgufWriter& layout, std::string path)
    : path_(std::move(path)),
      temp_path_(path_ + ".tmp"),
      alignment_(layout.alignment()),
      sizes_(layout.TensorSizes()) {
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) Fail(path_, ": cannot write: ", std::strerror(errno));
  const std::vector<uint8_t> header = layout.SerializeHeader();
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    Fail(path_, ": cannot write: ", std::strerror(errno));
  }
  while (tensor_ < sizes_.size() && sizes_[tensor_] == 0) ++tensor_;
}

GgufStreamWriter::~GgufStreamWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!finished_) std::remove(temp_path_.c_str());
}

void GgufStreamWriter::Pad() {
  static const uint8_t kZeros[64] = {};
  size_t pad = (alignment_ - sizes_[tensor_] % alignment_) % alignment_;
  while (pad > 0) {
    const size_t n = std::min(pad, sizeof(kZeros));
    if (std::fwrite(kZeros, 1, n, file_) != n)
      Fail(path_, ": cannot write: ", std::strerror(errno));
    pad -= n;
  }
}

void GgufStreamWriter::Append(const uint8_t* data, size_t size) {
  while (size > 0) {
    if (tensor_ >= sizes_.size()) Fail(path_, ": more tensor bytes than the header declares");
    const size_t n = std::min(size, sizes_[tensor_] - written_);
    if (std::fwrite(data, 1, n, file_) != n) Fail(path_, ": cannot write: ", std::strerror(errno));
    data += n;
    size -= n;
    written_ += n;
    if (written_ == sizes_[tensor_]) {
      Pad();
      written_ = 0;
      ++tensor_;
      while (tensor_ < sizes_.size() && sizes_[tensor_] == 0) ++tensor_;
    }
  }
}

void GgufStreamWriter::Finish() {
  if (tensor_ != sizes_.size()) {
    Fail(path_, ": tensor ", tensor_, " of ", sizes_.size(), " was not written in full");
  }
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) Fail(path_, ": cannot write: ", std::strerror(errno));
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    Fail(path_, ": cannot write: ", std::strerror(errno));
  }
  finished_ = true;
}

}  // namespace gemma

#include "pgwire/wire.h"

#include <cstring>

namespace sluice::pgwire {

int16_t MessageReader::Int16() {
  std::string_view b = Bytes(2);
  if (b.size() != 2) return 0;
  return static_cast<int16_t>((static_cast<uint8_t>(b[0]) << 8) | static_cast<uint8_t>(b[1]));
}

int32_t MessageReader::Int32() {
  std::string_view b = Bytes(4);
  if (b.size() != 4) return 0;
  uint32_t v = 0;
  for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
  return static_cast<int32_t>(v);
}

std::string MessageReader::String() {
  if (failed_) return {};
  size_t end = body_.find('\0', pos_);
  if (end == std::string_view::npos) {
    failed_ = true;
    return {};
  }
  std::string s(body_.substr(pos_, end - pos_));
  pos_ = end + 1;
  return s;
}

std::string_view MessageReader::Bytes(size_t n) {
  if (failed_ || n > remaining()) {
    failed_ = true;
    return {};
  }
  std::string_view b = body_.substr(pos_, n);
  pos_ += n;
  return b;
}

void MessageWriter::Begin(char type) {
  out_.push_back(type);
  start_ = out_.size();
  out_.append(4, '\0');
}

void MessageWriter::Int16(int16_t v) {
  out_.push_back(static_cast<char>((v >> 8) & 0xff));
  out_.push_back(static_cast<char>(v & 0xff));
}

void MessageWriter::Int32(int32_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>((u >> shift) & 0xff));
}

void MessageWriter::String(std::string_view s) {
  out_.append(s);
  out_.push_back('\0');
}

void MessageWriter::Bytes(std::string_view s) { out_.append(s); }

void MessageWriter::End() {
  uint32_t len = static_cast<uint32_t>(out_.size() - start_);
  for (int i = 0; i < 4; ++i) out_[start_ + i] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
}

}  // namespace sluice::pgwire

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// Framing of PostgreSQL protocol messages (private to pgwire/): a message is a type byte
// (none in the startup phase), an int32 length that counts itself, then the body. All
// integers are big-endian. Not thread-safe.
namespace sluice::pgwire {

// Reads the fields of one message body. A read past the end or a string without its NUL
// terminator sets failed(); later reads return zero values.
class MessageReader {
 public:
  explicit MessageReader(std::string_view body) : body_(body) {}
  int16_t Int16();
  int32_t Int32();
  // A NUL-terminated string.
  std::string String();
  std::string_view Bytes(size_t n);
  size_t remaining() const { return body_.size() - pos_; }
  bool failed() const { return failed_; }

 private:
  std::string_view body_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Appends messages to an output buffer.
class MessageWriter {
 public:
  // Starts a message of `type`; End() fills in its length.
  void Begin(char type);
  void Int16(int16_t v);
  void Int32(int32_t v);
  void String(std::string_view s);  // with its NUL terminator
  void Bytes(std::string_view s);
  void Byte(char c) { out_.push_back(c); }
  void End();
  // A message with an empty body.
  void Empty(char type) {
    Begin(type);
    End();
  }

  std::string& buffer() { return out_; }
  size_t size() const { return out_.size(); }

 private:
  std::string out_;
  size_t start_ = 0;
};

}  // namespace sluice::pgwire

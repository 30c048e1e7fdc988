// libFuzzer target for what pgwire parses from clients: binary parameters, message
// fields, and the lexical scans of query text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgwire/pg_types.h"
#include "pgwire/query_text.h"
#include "pgwire/wire.h"

namespace {
constexpr uint32_t kOids[] = {16, 17, 19, 20, 21, 23, 25, 26, 114, 700, 701, 705, 1042, 1043,
                              1082, 1083, 1114, 1184, 1186, 1266, 1700, 2950, 3802, 0};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  uint32_t oid = kOids[data[0] % (sizeof kOids / sizeof kOids[0])];
  using namespace sluice::pgwire;
  switch (data[0] >> 6) {
    case 0: {
      auto text = DecodeBinary(oid, in);
      if (text.ok() && HasBinaryFormat(oid)) (void)EncodeBinary(oid, *text);
      break;
    }
    case 1:
      if (HasBinaryFormat(oid)) (void)EncodeBinary(oid, in);
      (void)PgTypeOf(in);
      break;
    case 2: {
      std::string sql(in);
      (void)IsEmptyQuery(sql);
      (void)CountParameters(sql);
      (void)RewriteQuery(sql);
      break;
    }
    default: {
      MessageReader r(in);
      while (!r.failed() && r.remaining() > 0) {
        (void)r.String();
        (void)r.Int16();
        (void)r.Bytes(static_cast<size_t>(r.Int32() & 0xff));
      }
      break;
    }
  }
  return 0;
}

#pragma once

#include <string>
#include <string_view>

// How an object key maps to a file under the bucket's folder (docs/formats/s3-layout.md).
// Each '/'-separated segment of the key becomes one path component; a segment that a file
// system cannot hold as-is is escaped:
//   natural:  the segment itself, when it is 1-255 bytes, not "." or "..", does not start
//             with '%', and holds no NUL byte ("event_date=2025-08-01" stays readable);
//   escaped:  '%' + the segment with '%', '#', NUL and control bytes as %XX
//             ("" -> "%", ".." -> "%..");
//   hashed:   "%#" + 40 hex digits of the segment's SHA-1, for segments too long to escape;
//   variant:  any of these + "%%" + n, used when the name is taken by a directory where a
//             file is needed or the reverse (keys "a" and "a/b" both exist).
// Escaped and variant names decode back to the segment; the index records every object's
// path, so hashed names need not decode.
namespace sluice {

// The path component for `segment`; `variant` 0 is the preferred name.
std::string SegmentName(std::string_view segment, int variant);

// The segment a path component stands for (hashed names decode to themselves).
std::string DecodeSegmentName(std::string_view name);

}  // namespace sluice

#pragma once

#include <cstddef>
#include <string>

// Random identifiers for the resources services create (run ids, execution names, event
// ids). Thread-safe: each thread has its own generator, seeded from std::random_device.
namespace sluice {

// `chars` lower-case hex digits.
std::string RandomHex(size_t chars);
// A random (version 4) UUID: 8-4-4-4-12 lower-case hex digits.
std::string NewUuid();

}  // namespace sluice

#include <cstdio>

#include "cmd/commands.h"
#include "server/version.h"

namespace sluice {

int RunVersion() {
  std::printf("sluice %s\n", kSluiceVersion);
  return 0;
}

}  // namespace sluice

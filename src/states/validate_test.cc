#include "states/validate.h"
#include "gtest/gtest.h"

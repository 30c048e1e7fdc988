#include "states/language.h"
#include "gtest/gtest.h"

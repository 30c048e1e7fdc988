#include "states/language.h"

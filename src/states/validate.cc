#include "states/validate.h"

// Placeholder: this module's public API is being written.
#ifndef SQZ_ENGINE_H
#define SQZ_ENGINE_H
#include "sqz/common.h"
#include "sqz/types.h"
#endif

// Placeholder: this module's public API is being written.
#ifndef SQZ_SANDBOX_H
#define SQZ_SANDBOX_H
#include "sqz/common.h"
#include "sqz/types.h"
#endif

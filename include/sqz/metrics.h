// Placeholder: this module's public API is being written.
#ifndef SQZ_METRICS_H
#define SQZ_METRICS_H
#include "sqz/common.h"
#include "sqz/types.h"
#endif

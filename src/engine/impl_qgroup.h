// The grouped-int weight layout (kernels/qgroup.h) as an sqz_linear_impl: how GPTQ-layout linears
// run without being dequantized (see impl_qgroup.c and docs/quant.md "Kernels").
#ifndef SQZ_ENGINE_IMPL_QGROUP_H
#define SQZ_ENGINE_IMPL_QGROUP_H

#include "engine/internal.h"
#include "kernels/qgroup.h"

// Make l run the packed weights w (ownership of w passes to the model, also on error). name is the
// tensor name for messages (copied). Sets l->exact from the load options and grows m->max_n_in and
// m->max_act_row. Errors: SQZ_ERR_NOMEM.
sqz_status sqz_qgroup_linear_init(sqz_model *m, sqz_linear *l, const char *name, sqz_qgroup *w);


#endif

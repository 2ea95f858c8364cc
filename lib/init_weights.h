/* Starting a run from other weights (`cnnrun train --init W.safetensors`),
 * tensor by tensor, by PyTorch's state_dict names: what fine-tuning needs
 * when the head changed (a 5-class output on a 10-class network) or the
 * file holds tensors the model lacks.
 *
 * Every tensor of the model (parameters, batchnorm's running statistics
 * and its batch counter alike) and every tensor of the file that the model
 * lacks is one entry of a report:
 *   loaded      in both with the same shape: copied (F16, BF16 and F64 converted)
 *   missing     in the model, not in the file
 *   unexpected  in the file, not in the model: ignored
 *   mismatch    in both, with another shape (or a dtype that is no float)
 * A strict init (partial false) fails when a tensor is missing or
 * mismatched, naming them; a partial one keeps those tensors' fresh
 * initialisation. Unexpected tensors never fail an init (Caffe copies by
 * layer name the same way). A missing batch counter is no failure either:
 * cnnrun keeps no batch count (safetensors.c saves 0), and PyTorch's
 * BatchNorm loads old files without one too. */
#ifndef CNNRUN_INIT_WEIGHTS_H
#define CNNRUN_INIT_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "safetensors.h"

typedef enum cr_init_status {
    CR_INIT_LOADED,
    CR_INIT_MISSING,
    CR_INIT_UNEXPECTED,
    CR_INIT_MISMATCH,
} cr_init_status;

typedef struct cr_init_entry {
    char *name; /* the model's name, or the file's (made printable) for unexpected ones */
    cr_init_status status;
    bool counter; /* a batch counter (num_batches_tracked): nothing to copy */
    int param;    /* index of the network's tensor (cr_net_param); -1: none */
    int model_ndim, file_ndim;
    int64_t model_shape[CR_SAFETENSORS_MAX_DIMS], file_shape[CR_SAFETENSORS_MAX_DIMS];
    cr_dtype file_dtype;
    int file_index; /* in the file's entries; -1 when missing */
} cr_init_entry;

typedef struct cr_init_report {
    char *path;
    int count;
    cr_init_entry *entries; /* the model's tensors in state_dict order, then the unexpected ones
                               in the file's order */
    int loaded, missing, unexpected, mismatched;
    int blocking; /* missing (batch counters aside) and mismatched: what fails a strict init */
} cr_init_report;

/* Matches the file's tensors to the model's. The file must be a valid
 * safetensors file (errors as cr_safetensors_open's). */
int cr_init_report_make(const cr_model *model, const char *path, cr_init_report *out,
                        cr_error *err);
void cr_init_report_free(cr_init_report *report);

/* Entry i as one line of text:
 *   "loaded      c1.weight [6, 1, 5, 5]"
 *   "missing     out.bias [5] (not in the file)"
 *   "unexpected  fc9.weight [10, 84] (not in the model)"
 *   "mismatch    out.weight: model [5, 84], file [10, 84]"
 * Returns out. */
const char *cr_init_report_line(const cr_init_report *report, int i, char *out, size_t size);
/* "init from W.safetensors: 8 loaded, 0 missing, 1 unexpected, 2 shape mismatches" */
const char *cr_init_report_summary(const cr_init_report *report, char *out, size_t size);
/* Every line, then the summary, each ending in a newline: malloc'ed, NULL
 * when out of memory. */
char *cr_init_report_text(const cr_init_report *report);

/* The run folder's record of its start (CR_RUN_INIT, train.h): the
 * weights file, strict or partial, and the report's text; written
 * atomically. */
int cr_init_report_save(const cr_init_report *report, bool partial, const char *path,
                        cr_error *err);

/* Loads the tensors that fit into the network (strict: fails naming what
 * does not fit, with the network unchanged; partial: the others keep their
 * values). Everything is read before anything is copied. When report is
 * not NULL it receives the report (free it with cr_init_report_free), also
 * when a strict init fails on it. */
int cr_net_init_weights(cr_net *net, const char *path, bool partial, cr_init_report *report,
                        cr_error *err);

#endif

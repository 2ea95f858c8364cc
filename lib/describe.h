/* What a checkpoint remembers of the model file, so that a resume can say
 * what changed instead of only that something did.
 *
 * The description is text, one setting a line, `KEY<TAB>VALUE`: every key
 * of every layer (its kind's whole schema, defaults included, so adding
 * `trainable: false` or changing an activation or a dropout rate shows up),
 * its inputs and output shape, inline weights as a checksum, and the train
 * section's keys that change what the network sees (normalize, augment). */
#ifndef CNNRUN_DESCRIBE_H
#define CNNRUN_DESCRIBE_H

#include <stddef.h>

#include "data.h"
#include "model.h"

/* A malloc'ed description; NULL when out of memory. */
char *cr_model_describe(const cr_model *model, const cr_transform *transform);

/* The settings that differ between two descriptions, as
 * "layer 'c1' activation tanh (was relu), layer 'd1' trainable added" in
 * out[size] (at most a few, then "and N more"). Returns how many differ. */
int cr_describe_diff(const char *saved, const char *now, char *out, size_t size);

#endif

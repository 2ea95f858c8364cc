/* The model format as a JSON Schema (draft-07, what yaml-language-server
 * reads), generated from the layer kind table (lib/layers/table.c: every
 * kind, key, type, default, range and description) and the train section's
 * key table (lib/train_config.c), so it cannot drift from the loader.
 * docs/cnnrun-model.schema.json is this output, checked in. */
#ifndef CNNRUN_SCHEMA_H
#define CNNRUN_SCHEMA_H

/* The schema as indented JSON text ending in a newline; NULL when out of
 * memory. The caller frees it with free(). */
char *cr_model_schema(void);

#endif

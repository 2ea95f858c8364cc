/* cnnrun schema: the model format's JSON Schema (lib/schema.h), generated
 * from the layer kind table and the train key table;
 * docs/cnnrun-model.schema.json is its output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "commands.h"
#include "print.h"
#include "schema.h"

typedef struct schema_args {
    const char *out;
} schema_args;

static const cli_option schema_options[] = {
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     .offset = offsetof(schema_args, out),
     .arg = "FILE",
     .complete = "json",
     .help = "write the schema to FILE (atomically) instead of standard output"},
};

const cli_spec schema_spec = {
    .options = schema_options,
    .n_options = CLI_COUNT_OF(schema_options),
    .description = "Prints the JSON Schema (draft-07) of the model format: every layer type, key,\n"
                   "type of value, default, range and a one-line description, and the train\n"
                   "section's keys. Editors running yaml-language-server read it through a first\n"
                   "line '# yaml-language-server: $schema=PATH' in a model file (README: editor\n"
                   "setup); docs/cnnrun-model.schema.json is this output.\n",
    .exit_status = "0 printed, 1 out of memory, 2 usage error or unwritable file.",
};

int cmd_schema(int argc, char **argv) {
    schema_args args = {0};
    if (cli_parse(&schema_spec, argc, argv, &args)) return 2;
    char *text = cr_model_schema();
    if (!text) {
        fprintf(stderr, "cnnrun schema: out of memory\n");
        return 1;
    }
    cr_error err = {0};
    int status = 0;
    if (args.out)
        status = cr_write_file_atomic(args.out, text, strlen(text), &err);
    else
        fputs(text, stdout);
    free(text);
    return status ? report(&err) : 0;
}

/* Command-line options as data (git's parse-options): each command declares
 * a table of its options, each with the offset of the field it fills in the
 * command's own struct, and one parser reads argv against it. The parser
 * writes every usage message, so all commands word them the same way, and
 * `cnnrun help COMMAND`, the man pages and the bash completion are generated
 * from the same tables: an option is written once. */
#ifndef CNNRUN_CMD_OPTIONS_H
#define CNNRUN_CMD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum cli_type {
    CLI_FLAG,   /* bool; takes no value */
    CLI_INT,    /* int, a whole number in [min, max] */
    CLI_COUNT,  /* int64_t, a whole number in [min, max] */
    CLI_SEED,   /* cli_seed: any whole number ≥ 0 (64 bits) */
    CLI_FLOAT,  /* double, finite, above min and (when max is set) at most max */
    CLI_STRING, /* const char *, taken as written */
    CLI_PATH,   /* const char *, a file or folder (`complete` says which) */
    CLI_SHAPE,  /* cr_shape from C,H,W, each ≥ 1 */
    CLI_CHOICE, /* int: the index of the value in `choices` */
} cli_type;

/* A seed the user may or may not have given (the model file's own seed
 * applies when not). */
typedef struct cli_seed {
    uint64_t value;
    bool given;
} cli_seed;

/* The largest whole number an option takes when its table states no maximum
 * (max 0): counts of images, steps and threads this large are typos. */
#define CLI_MANY 1000000
/* Options per command the parser tracks (cli_spec.n_options ≤ this). */
#define CLI_MAX_OPTIONS 32

typedef struct cli_option {
    const char *name; /* long name without "--" */
    char short_name;  /* 'o' for -o; 0 for none */
    cli_type type;
    size_t offset;    /* of the field in the command's options struct */
    double min, max;  /* CLI_INT, CLI_COUNT: inclusive (max 0: CLI_MANY for an int, none
                         for a count); CLI_FLOAT: above min, at most max (0: no maximum) */
    const char *arg;  /* the value's name in help: "N", "DIR" (CLI_CHOICE: a|b from choices) */
    const char *help; /* sentences; the help printer wraps them */
    const char *const *choices; /* CLI_CHOICE: NULL-terminated */
    const char *required;       /* NULL: optional; else the message when it is missing */
    const char *complete;       /* what completes the value: a file extension ("yaml",
                                   "safetensors"), "dir", "image", "layer", "layers" */
} cli_option;

/* A positional argument: "MODEL.yaml", or several ("IMAGE..."), which must
 * come last in the table. */
typedef struct cli_positional {
    const char *name;     /* as usage shows it */
    size_t offset;        /* const char *, or with `many` a char ** list ... */
    bool many;            /* one or more */
    size_t count_offset;  /* ... with its int count here */
    const char *missing;  /* the message when it is absent; NULL: "missing NAME" */
    const char *complete; /* as for options */
} cli_positional;

/* Everything the parser and the help know about one command. */
typedef struct cli_spec {
    const cli_option *options;
    int n_options;
    const cli_positional *positionals;
    int n_positionals;
    const char *description; /* paragraphs after the usage line, before the options */
    const char *exit_status; /* "0 ..., 1 ..., 2 ...": the closing paragraph */
} cli_spec;

#define CLI_COUNT_OF(array) ((int)(sizeof(array) / sizeof((array)[0])))
/* A spec's two tables with their lengths. */
#define CLI_TABLES(option_table, positional_table)                                                 \
    .options = option_table, .n_options = CLI_COUNT_OF(option_table),                              \
    .positionals = positional_table, .n_positionals = CLI_COUNT_OF(positional_table)

/* Reads argv[1..argc-1] (argv[0] is the command's name) into `out`, whose
 * fields keep their values for options not given. Positional arguments are
 * moved to the front of argv (so a `many` list is a slice of it). Returns 0,
 * or 2 after printing the usage message. */
int cli_parse(const cli_spec *spec, int argc, char **argv, void *out);

/* cli_parse that also says which options were given: given[i] for the
 * table's option i (given holds spec->n_options entries). */
int cli_parse_given(const cli_spec *spec, int argc, char **argv, void *out, bool *given);

/* The index of the option called `name` in the spec's table, or -1. */
int cli_option_index(const cli_spec *spec, const char *name);

/* "cnnrun COMMAND: MESSAGE" and where to find help, on stderr; returns 2. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "usage: cnnrun COMMAND MODEL.yaml [--batch N] ..." wrapped at 80 columns. */
void cli_print_usage(FILE *out, const char *command, const cli_spec *spec);
/* The usage line, the description, one line per option and the exit status. */
void cli_print_help(FILE *out, const char *command, const cli_spec *spec);

/* A choice option's values: "minmax or clip" with separator ", " and last
 * " or "; "minmax|clip" with "|" and "|". */
void cli_choices_text(const cli_option *option, const char *separator, const char *last, char *out,
                      size_t size);

/* "--batch N", "-o, --out OUT.png", "--scale minmax|clip": how the option is
 * written, for help and man pages. Returns out. */
const char *cli_option_label(const cli_option *option, char *out, size_t size);

#endif

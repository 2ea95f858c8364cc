/* The command-line option parser (cmd/options.h) on its own, once, instead
 * of every command's options: every type with good and bad values, ranges
 * and the messages that state them, --opt=value, -o, unknown options with a
 * suggestion, missing values, positionals (too many, missing, a trailing
 * list, "--"), required options, and the help generated from the table. */
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "model.h"
#include "options.h"

typedef struct test_args {
    const char *model, *name, *out;
    bool verbose;
    int count, level, choice;
    int64_t steps;
    cli_seed seed;
    double rate, fraction;
    cr_shape shape;
    char **files;
    int n_files;
} test_args;

static const char *const colours[] = {"red", "green", "blue", NULL};

static const cli_option test_options[] = {
    {.name = "verbose", .type = CLI_FLAG, .offset = offsetof(test_args, verbose), .help = "talk"},
    {.name = "count",
     .type = CLI_INT,
     .offset = offsetof(test_args, count),
     .min = 1,
     .arg = "N",
     .help = "a count with no stated maximum"},
    {.name = "level",
     .type = CLI_INT,
     .offset = offsetof(test_args, level),
     .min = 0,
     .max = 16,
     .arg = "L",
     .help = "a number in a stated range"},
    {.name = "steps",
     .type = CLI_COUNT,
     .offset = offsetof(test_args, steps),
     .min = 1,
     .arg = "N",
     .help = "a 64-bit count"},
    {.name = "seed",
     .type = CLI_SEED,
     .offset = offsetof(test_args, seed),
     .arg = "S",
     .help = "s"},
    {.name = "rate",
     .type = CLI_FLOAT,
     .offset = offsetof(test_args, rate),
     .arg = "X",
     .help = "a positive number"},
    {.name = "fraction",
     .type = CLI_FLOAT,
     .offset = offsetof(test_args, fraction),
     .min = 0,
     .max = 1,
     .arg = "F",
     .help = "above 0, at most 1"},
    {.name = "name",
     .type = CLI_STRING,
     .offset = offsetof(test_args, name),
     .arg = "NAME",
     .help = "any text"},
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     .offset = offsetof(test_args, out),
     .arg = "A.VERY.LONG.ARGUMENT.NAME",
     .required = "missing -o OUT",
     .help = "a path with a short form; its label is too long for the column, so this help "
             "starts on the next line and wraps over several lines of the eighty columns"},
    {.name = "input",
     .type = CLI_SHAPE,
     .offset = offsetof(test_args, shape),
     .arg = "C,H,W",
     .help = "a shape"},
    {.name = "colour",
     .type = CLI_CHOICE,
     .offset = offsetof(test_args, choice),
     .choices = colours,
     .help = "a choice"},
};
static const cli_positional test_positionals[] = {
    {.name = "MODEL.yaml", .offset = offsetof(test_args, model)},
    {.name = "FILE",
     .offset = offsetof(test_args, files),
     .many = true,
     .count_offset = offsetof(test_args, n_files),
     .missing = "no files given"},
};
static const cli_spec test_spec = {
    CLI_TABLES(test_options, test_positionals),
    .description = "Tests the parser.\n",
    .exit_status = "0.",
};

static const cli_option single_options[] = {
    {.name = "batch",
     .type = CLI_INT,
     .offset = offsetof(test_args, count),
     .min = 1,
     .arg = "N",
     .help = "b"},
};
static const cli_positional single_positionals[] = {
    {.name = "MODEL.yaml", .offset = offsetof(test_args, model)}};
static const cli_spec single_spec = {.options = single_options,
                                     .n_options = 1,
                                     .positionals = single_positionals,
                                     .n_positionals = 1,
                                     .description = "",
                                     .exit_status = ""};

static char messages[4096];

/* Runs the parser on the NULL-terminated arguments (after the command name
 * "demo"), with stderr in `messages`. Returns the parser's result. */
static int parse(const cli_spec *spec, test_args *args, ...) {
    static char *argv[32];
    static char storage[32][128];
    va_list list;
    va_start(list, args);
    int argc = 0;
    snprintf(storage[argc], sizeof storage[argc], "demo");
    argv[argc] = storage[argc];
    argc++;
    for (const char *a; (a = va_arg(list, const char *)) && argc < 31; argc++) {
        snprintf(storage[argc], sizeof storage[argc], "%s", a);
        argv[argc] = storage[argc];
    }
    va_end(list);
    *args = (test_args){.count = 7};
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *capture = tmpfile();
    dup2(fileno(capture), STDERR_FILENO);
    int code = cli_parse(spec, argc, argv, args);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(capture);
    size_t n = fread(messages, 1, sizeof messages - 1, capture);
    messages[n] = '\0';
    fclose(capture);
    return code;
}

#define GOOD "m.yaml", "f1", "-o", "out"

static void test_every_type(void) {
    test_args a;
    CHECK_INT(parse(&test_spec, &a, GOOD, "--verbose", "--count", "12", "--level", "16", "--steps",
                    "5000000000", "--seed", "18446744073709551615", "--rate", "0.5", "--fraction",
                    "1", "--name", "-x", "--input", "3,32,24", "--colour", "blue", NULL),
              0);
    CHECK_INT(messages[0], '\0');
    CHECK(a.verbose);
    CHECK_INT(a.count, 12);
    CHECK_INT(a.level, 16);
    CHECK(a.steps == 5000000000LL);
    CHECK(a.seed.given && a.seed.value == 18446744073709551615ULL);
    CHECK_NEAR(a.rate, 0.5, 0);
    CHECK_NEAR(a.fraction, 1, 0);
    CHECK(a.name && strcmp(a.name, "-x") == 0); /* a value may start with '-' */
    CHECK_INT(a.shape.c, 3);
    CHECK_INT(a.shape.h, 32);
    CHECK_INT(a.shape.w, 24);
    CHECK_INT(a.choice, 2);
    CHECK(a.out && strcmp(a.out, "out") == 0);

    /* options not given keep the caller's defaults */
    CHECK_INT(parse(&test_spec, &a, GOOD, NULL), 0);
    CHECK_INT(a.count, 7);
    CHECK(!a.verbose && !a.seed.given && a.shape.c == 0);
}

static void test_equals_form(void) {
    test_args a;
    CHECK_INT(
        parse(&test_spec, &a, GOOD, "--count=3", "--colour=green", "--name=", "--out=o2", NULL), 0);
    CHECK_INT(a.count, 3);
    CHECK_INT(a.choice, 1);
    CHECK(a.name && a.name[0] == '\0');
    CHECK(strcmp(a.out, "o2") == 0);
    CHECK_INT(parse(&test_spec, &a, GOOD, "--count=0", NULL), 2);
    CHECK_CONTAINS(messages, "--count must be a whole number ≥ 1, got '0'");
    CHECK_INT(parse(&test_spec, &a, GOOD, "--verbose=yes", NULL), 2);
    CHECK_CONTAINS(messages, "--verbose takes no value");
}

/* Each bad value: exit 2 and a message that says what a good one is. */
static void test_bad_values(void) {
    static const struct {
        const char *option, *value, *message;
    } cases[] = {
        {"--count", "0", "--count must be a whole number ≥ 1, got '0'"},
        {"--count", "x", "--count must be a whole number ≥ 1, got 'x'"},
        {"--count", "2.5", "--count must be a whole number ≥ 1, got '2.5'"},
        {"--count", "", "--count must be a whole number ≥ 1, got ''"},
        /* no stated maximum: past CLI_MANY the message gives the range */
        {"--count", "1000001", "--count must be a whole number from 1 to 1000000, got '1000001'"},
        {"--level", "17", "--level must be a whole number from 0 to 16, got '17'"},
        {"--level", "-1", "--level must be a whole number from 0 to 16, got '-1'"},
        {"--steps", "0", "--steps must be a whole number ≥ 1, got '0'"},
        {"--seed", "-1", "--seed must be a whole number ≥ 0, got '-1'"},
        {"--seed", "1x", "--seed must be a whole number ≥ 0, got '1x'"},
        {"--rate", "0", "--rate must be a positive number, got '0'"},
        {"--rate", "-2", "--rate must be a positive number, got '-2'"},
        {"--rate", "inf", "--rate must be a positive number, got 'inf'"},
        {"--rate", "nan", "--rate must be a positive number, got 'nan'"},
        {"--fraction", "1.5", "--fraction must be a number above 0 and at most 1, got '1.5'"},
        {"--input", "3,32", "--input must be C,H,W (e.g. 3,32,32), got '3,32'"},
        {"--input", "3,0,4", "--input must be C,H,W (e.g. 3,32,32), got '3,0,4'"},
        {"--input", "3,4,4,", "--input must be C,H,W (e.g. 3,32,32), got '3,4,4,'"},
        {"--colour", "Red", "--colour must be red, green or blue, got 'Red'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_args a;
        CHECK_INT(parse(&test_spec, &a, GOOD, cases[i].option, cases[i].value, NULL), 2);
        CHECK_CONTAINS(messages, cases[i].message);
        CHECK_CONTAINS(messages, "cnnrun demo: ");
        CHECK_CONTAINS(messages, "Try 'cnnrun help demo'.");
    }
}

static void test_unknown_and_missing(void) {
    test_args a;
    CHECK_INT(parse(&test_spec, &a, GOOD, "--cuont", "3", NULL), 2);
    CHECK_CONTAINS(messages, "unknown option '--cuont'; did you mean '--count'?");
    CHECK_INT(parse(&test_spec, &a, GOOD, "--colour", "red", "--zzzzzzzz", NULL), 2);
    CHECK_CONTAINS(messages, "unknown option '--zzzzzzzz'\n"); /* nothing close: no suggestion */
    CHECK_INT(parse(&test_spec, &a, GOOD, "--levle=3", NULL), 2);
    CHECK_CONTAINS(messages, "unknown option '--levle'; did you mean '--level'?");
    CHECK_INT(parse(&test_spec, &a, GOOD, "-x", NULL), 2);
    CHECK_CONTAINS(messages, "unknown option '-x'");
    CHECK_INT(parse(&test_spec, &a, GOOD, "--count", NULL), 2);
    CHECK_CONTAINS(messages, "--count needs a value");
    CHECK_INT(parse(&test_spec, &a, "m.yaml", "f", "-o", NULL), 2);
    CHECK_CONTAINS(messages, "-o needs a value");
}

static void test_positional_arguments(void) {
    test_args a;
    /* positionals anywhere among the options; the list is a slice of argv */
    CHECK_INT(
        parse(&test_spec, &a, "--count", "2", "m.yaml", "a", "-o", "x", "b", "--", "-c", NULL), 0);
    CHECK(strcmp(a.model, "m.yaml") == 0);
    CHECK_INT(a.n_files, 3);
    CHECK(a.n_files == 3 && strcmp(a.files[0], "a") == 0 && strcmp(a.files[1], "b") == 0 &&
          strcmp(a.files[2], "-c") == 0); /* after "--" a dash is a file */
    CHECK_INT(parse(&test_spec, &a, "-", "f", "-o", "x", NULL), 0);
    CHECK(strcmp(a.model, "-") == 0); /* "-" alone is an argument */

    CHECK_INT(parse(&test_spec, &a, NULL), 2);
    CHECK_CONTAINS(messages, "missing MODEL.yaml");
    CHECK_INT(parse(&test_spec, &a, "m.yaml", NULL), 2);
    CHECK_CONTAINS(messages, "missing -o OUT"); /* required options before the list */
    CHECK_INT(parse(&test_spec, &a, "m.yaml", "-o", "x", NULL), 2);
    CHECK_CONTAINS(messages, "no files given");

    CHECK_INT(parse(&single_spec, &a, "a.yaml", "b.yaml", NULL), 2);
    CHECK_CONTAINS(messages, "unexpected argument 'b.yaml'; cnnrun demo takes MODEL.yaml");
    CHECK_INT(parse(&single_spec, &a, "--batch", "4", "a.yaml", NULL), 0);
    CHECK_INT(a.count, 4);
}

static void test_help(void) {
    FILE *out = tmpfile();
    cli_print_help(out, "demo", &test_spec);
    rewind(out);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = '\0';
    fclose(out);
    /* usage: positionals, required options, the rest in brackets, the list
     * last, wrapped under the first argument */
    CHECK_CONTAINS(text, "usage: cnnrun demo MODEL.yaml -o A.VERY.LONG.ARGUMENT.NAME [--verbose]");
    CHECK_CONTAINS(text, "\n                   [--");
    CHECK_CONTAINS(text, "[--colour red|green|blue] FILE...\n");
    CHECK_CONTAINS(text, "\nTests the parser.\n\noptions:\n");
    CHECK_CONTAINS(text, "\n  --verbose ");
    CHECK_CONTAINS(text, "\n  --level L ");
    CHECK_CONTAINS(text, "\n  --input C,H,W ");
    /* a label too long for the column: its help on the next line */
    CHECK_CONTAINS(text, "\n  -o, --out A.VERY.LONG.ARGUMENT.NAME\n       ");
    /* every line within 80 columns (counted in bytes: the text is ASCII) */
    int longest = 0, length = 0;
    for (const char *p = text; *p; p++) {
        length = *p == '\n' ? 0 : length + 1;
        if (length > longest) longest = length;
    }
    CHECK(longest <= 80);
    CHECK_CONTAINS(text, "\nExit status: 0.\n");

    char label[128];
    cli_option_label(&test_options[10], label, sizeof label);
    CHECK(strcmp(label, "--colour red|green|blue") == 0);
    cli_option_label(&test_options[8], label, sizeof label);
    CHECK(strcmp(label, "-o, --out A.VERY.LONG.ARGUMENT.NAME") == 0);
}

int main(void) {
    test_every_type();
    test_equals_form();
    test_bad_values();
    test_unknown_and_missing();
    test_positional_arguments();
    test_help();
    return check_report();
}

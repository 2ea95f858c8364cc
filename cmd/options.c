/* The one option parser (options.h): argv against a command's table. */
#include "options.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

int cli_usage_error(const char *command, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "cnnrun %s: ", command);
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\nTry 'cnnrun help %s'.\n", command);
    va_end(args);
    return 2;
}

/* ---- reading values ----------------------------------------------------------------- */

static double int_ceiling(const cli_option *option) {
    if (option->max != 0) return option->max;
    return option->type == CLI_INT ? CLI_MANY : 9007199254740992.0; /* 2^53: exact in a double */
}

static bool read_whole(const char *text, const cli_option *option, long long *value) {
    char *end;
    long long parsed = strtoll(text, &end, 10);
    if (end == text || *end || parsed < option->min || (double)parsed > int_ceiling(option))
        return false;
    *value = parsed;
    return true;
}

static bool read_seed(const char *text, cli_seed *seed) {
    char *end;
    if (!*text || *text == '-') return false;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (end == text || *end) return false;
    *seed = (cli_seed){.value = parsed, .given = true};
    return true;
}

static bool read_float(const char *text, const cli_option *option, double *value) {
    char *end;
    double parsed = strtod(text, &end);
    if (end == text || *end || !isfinite(parsed) || !(parsed > option->min) ||
        (option->max != 0 && parsed > option->max))
        return false;
    *value = parsed;
    return true;
}

static bool read_shape(const char *text, cr_shape *shape) {
    int c, h, w;
    char tail;
    if (sscanf(text, "%d,%d,%d%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1) return false;
    *shape = (cr_shape){c, h, w};
    return true;
}

static bool read_choice(const char *text, const cli_option *option, int *index) {
    for (int i = 0; option->choices[i]; i++)
        if (strcmp(option->choices[i], text) == 0) {
            *index = i;
            return true;
        }
    return false;
}

/* Stores `text` as the option's value in its field; false if it is not one. */
static bool read_value(const cli_option *option, const char *text, void *field) {
    long long whole;
    switch (option->type) {
    case CLI_INT:
        if (!read_whole(text, option, &whole)) return false;
        *(int *)field = (int)whole;
        return true;
    case CLI_COUNT:
        if (!read_whole(text, option, &whole)) return false;
        *(int64_t *)field = whole;
        return true;
    case CLI_SEED:
        return read_seed(text, field);
    case CLI_FLOAT:
        return read_float(text, option, field);
    case CLI_SHAPE:
        return read_shape(text, field);
    case CLI_CHOICE:
        return read_choice(text, option, field);
    case CLI_STRING:
    case CLI_PATH:
        *(const char **)field = text;
        return true;
    case CLI_FLAG:
        break;
    }
    return false;
}

/* "minmax or clip", "a, b or c" */
void cli_choices_text(const cli_option *option, const char *separator, const char *last, char *out,
                      size_t size) {
    out[0] = '\0';
    int n = 0;
    while (option->choices[n]) n++;
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s",
                 i == 0       ? ""
                 : i + 1 == n ? last
                              : separator,
                 option->choices[i]);
}

/* What a valid value is: "a whole number ≥ 1", "a positive number". */
static void expected_text(const cli_option *option, char *out, size_t size) {
    switch (option->type) {
    case CLI_INT:
    case CLI_COUNT:
        if (option->max != 0)
            snprintf(out, size, "a whole number from %.0f to %.0f", option->min, option->max);
        else
            snprintf(out, size, "a whole number ≥ %.0f", option->min);
        break;
    case CLI_SEED:
        snprintf(out, size, "a whole number ≥ 0");
        break;
    case CLI_FLOAT:
        if (option->min == 0 && option->max == 0)
            snprintf(out, size, "a positive number");
        else if (option->max == 0)
            snprintf(out, size, "a number above %g", option->min);
        else
            snprintf(out, size, "a number above %g and at most %g", option->min, option->max);
        break;
    case CLI_SHAPE:
        snprintf(out, size, "C,H,W (e.g. 3,32,32)");
        break;
    case CLI_CHOICE:
        cli_choices_text(option, ", ", " or ", out, size);
        break;
    default:
        snprintf(out, size, "a value");
    }
}

/* A whole number above the implicit CLI_MANY (or 2^53) of an option with
 * no stated maximum. */
static bool past_ceiling(const cli_option *option, const char *text) {
    char *end;
    long long whole = strtoll(text, &end, 10);
    return end != text && !*end && (double)whole > int_ceiling(option);
}

static int value_error(const char *command, const char *spelled, const cli_option *option,
                       const char *text) {
    char expected[256];
    expected_text(option, expected, sizeof expected);
    if ((option->type == CLI_INT || option->type == CLI_COUNT) && past_ceiling(option, text))
        snprintf(expected, sizeof expected, "a whole number from %.0f to %.0f", option->min,
                 int_ceiling(option));
    return cli_usage_error(command, "%s must be %s, got '%s'", spelled, expected, text);
}

/* ---- finding options ---------------------------------------------------------------- */

static const cli_option *find_long(const cli_spec *spec, const char *name, size_t length) {
    for (int i = 0; i < spec->n_options; i++) {
        const char *candidate = spec->options[i].name;
        if (candidate && strlen(candidate) == length && strncmp(candidate, name, length) == 0)
            return &spec->options[i];
    }
    return NULL;
}

static const cli_option *find_short(const cli_spec *spec, char name) {
    for (int i = 0; i < spec->n_options; i++)
        if (spec->options[i].short_name && spec->options[i].short_name == name)
            return &spec->options[i];
    return NULL;
}

/* "unknown option '--bach'; did you mean '--batch'?" */
static int unknown_option(const char *command, const cli_spec *spec, const char *arg) {
    char spelled[CLI_MAX_OPTIONS][40];
    const char *names[CLI_MAX_OPTIONS];
    int n = 0;
    for (int i = 0; i < spec->n_options && n < CLI_MAX_OPTIONS; i++)
        if (spec->options[i].name) {
            snprintf(spelled[n], sizeof spelled[n], "--%s", spec->options[i].name);
            names[n] = spelled[n];
            n++;
        }
    char typed[256];
    snprintf(typed, sizeof typed, "%s", arg);
    char *equals = strchr(typed, '=');
    if (equals) *equals = '\0';
    const char *near = n ? cr_suggest(typed, names, n) : NULL;
    return cli_usage_error(command, "unknown option '%s'%s%s%s", typed,
                           near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
}

/* ---- the parser ---------------------------------------------------------------------- */

typedef struct parse_state {
    const cli_spec *spec;
    const char *command;
    int argc;
    char **argv;
    int next;        /* argv index to read */
    int positionals; /* moved to argv[1 .. positionals] so far */
    void *out;
    bool given[CLI_MAX_OPTIONS]; /* per table entry, for the required ones */
} parse_state;

/* One option at argv[next] (already known to start with '-'). */
static int parse_option(parse_state *s) {
    const char *arg = s->argv[s->next++];
    const cli_option *option;
    const char *inline_value = NULL;
    char spelled[128];
    if (arg[1] == '-') {
        const char *name = arg + 2, *equals = strchr(name, '=');
        size_t length = equals ? (size_t)(equals - name) : strlen(name);
        option = find_long(s->spec, name, length);
        if (equals) inline_value = equals + 1;
        snprintf(spelled, sizeof spelled, "--%.*s", (int)length, name);
    } else {
        option = arg[2] ? NULL : find_short(s->spec, arg[1]);
        snprintf(spelled, sizeof spelled, "%s", arg);
    }
    if (!option) return unknown_option(s->command, s->spec, arg);
    if (option - s->spec->options < CLI_MAX_OPTIONS) s->given[option - s->spec->options] = true;
    char *field = (char *)s->out + option->offset;
    if (option->type == CLI_FLAG) {
        if (inline_value) return cli_usage_error(s->command, "%s takes no value", spelled);
        *(bool *)field = true;
        return 0;
    }
    const char *value = inline_value;
    if (!value) {
        if (s->next >= s->argc) return cli_usage_error(s->command, "%s needs a value", spelled);
        value = s->argv[s->next++];
    }
    return read_value(option, value, field) ? 0 : value_error(s->command, spelled, option, value);
}

/* "MODEL.yaml", "MODEL.yaml and IMAGE": what the command takes. */
static void positionals_text(const cli_spec *spec, char *out, size_t size) {
    out[0] = '\0';
    for (int i = 0; i < spec->n_positionals; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s%s",
                 i == 0                         ? ""
                 : i + 1 == spec->n_positionals ? " and "
                                                : ", ",
                 spec->positionals[i].name, spec->positionals[i].many ? "..." : "");
}

/* Positional arguments, moved in order to the front of argv. */
static int take_positional(parse_state *s) {
    const char *arg = s->argv[s->next++];
    int fixed = s->spec->n_positionals;
    bool many = fixed > 0 && s->spec->positionals[fixed - 1].many;
    if (!many && s->positionals >= fixed) {
        char takes[256];
        positionals_text(s->spec, takes, sizeof takes);
        return cli_usage_error(s->command, "unexpected argument '%s'; cnnrun %s takes %s", arg,
                               s->command, fixed ? takes : "no file");
    }
    s->argv[++s->positionals] = (char *)arg;
    return 0;
}

/* The first positional of the kind (`many` or not) that is absent: 2 after
 * its message, or 0. */
static int missing_positional(parse_state *s, bool many) {
    for (int i = 0; i < s->spec->n_positionals; i++) {
        const cli_positional *p = &s->spec->positionals[i];
        if (p->many != many || s->positionals > i) continue;
        if (p->missing) return cli_usage_error(s->command, "%s", p->missing);
        return cli_usage_error(s->command, "missing %s", p->name);
    }
    return 0;
}

/* Positionals into their fields, then what is missing, in the order usage
 * lists it: positionals, required options, a trailing list. */
static int finish(parse_state *s) {
    for (int i = 0; i < s->spec->n_positionals; i++) {
        const cli_positional *p = &s->spec->positionals[i];
        char *field = (char *)s->out + p->offset;
        if (p->many) {
            *(char ***)field = s->argv + 1 + i;
            *(int *)((char *)s->out + p->count_offset) =
                s->positionals > i ? s->positionals - i : 0;
        } else if (s->positionals > i) {
            *(const char **)field = s->argv[1 + i];
        }
    }
    int code = missing_positional(s, false);
    for (int i = 0; !code && i < s->spec->n_options; i++)
        if (s->spec->options[i].required && !s->given[i])
            code = cli_usage_error(s->command, "%s", s->spec->options[i].required);
    return code ? code : missing_positional(s, true);
}

static int parse_all(parse_state *s);

int cli_option_index(const cli_spec *spec, const char *name) {
    const cli_option *option = find_long(spec, name, strlen(name));
    return option ? (int)(option - spec->options) : -1;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, void *out) {
    return cli_parse_given(spec, argc, argv, out, NULL);
}

int cli_parse_given(const cli_spec *spec, int argc, char **argv, void *out, bool *given) {
    parse_state s = {
        .spec = spec, .command = argv[0], .argc = argc, .argv = argv, .next = 1, .out = out};
    int code = parse_all(&s);
    for (int i = 0; given && i < spec->n_options; i++) given[i] = i < CLI_MAX_OPTIONS && s.given[i];
    return code;
}

/* Every argument of argv against the table, then what is missing. */
static int parse_all(parse_state *s) {
    int argc = s->argc;
    char **argv = s->argv;
    bool only_positionals = false; /* after "--" */
    while (s->next < argc) {
        const char *arg = argv[s->next];
        int code;
        if (!only_positionals && arg[0] == '-' && arg[1] == '-' && !arg[2]) {
            only_positionals = true;
            s->next++;
            continue;
        }
        if (!only_positionals && arg[0] == '-' && arg[1])
            code = parse_option(s);
        else
            code = take_positional(s);
        if (code) return code;
    }
    return finish(s);
}

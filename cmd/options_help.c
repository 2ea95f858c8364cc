/* Help generated from a command's option table (options.h): the usage
 * line, the option lines of `cnnrun help COMMAND`. */
#include <stdbool.h>
#include <string.h>

#include "options.h"

#define HELP_COLUMNS 80

/* ---- help ---------------------------------------------------------------------------- */

const char *cli_option_label(const cli_option *option, char *out, size_t size) {
    char value[160] = "";
    if (option->type == CLI_CHOICE && !option->arg)
        cli_choices_text(option, "|", "|", value, sizeof value);
    else if (option->type != CLI_FLAG)
        snprintf(value, sizeof value, "%s", option->arg ? option->arg : "VALUE");
    const char *space = value[0] ? " " : "";
    if (option->short_name && option->name)
        snprintf(out, size, "-%c, --%s%s%s", option->short_name, option->name, space, value);
    else if (option->short_name)
        snprintf(out, size, "-%c%s%s", option->short_name, space, value);
    else
        snprintf(out, size, "--%s%s%s", option->name, space, value);
    return out;
}

/* How usage shows the option: its short form when it has one. */
static void synopsis_word(const cli_option *option, char *out, size_t size) {
    if (!option->short_name) {
        cli_option_label(option, out, size);
        return;
    }
    cli_option short_only = *option;
    short_only.name = NULL;
    cli_option_label(&short_only, out, size);
}

/* Appends `word` to a usage line that wraps before HELP_COLUMNS, continuing
 * under the first argument. */
static void usage_word(FILE *out, const char *word, int indent, int *column) {
    int length = (int)strlen(word);
    if (*column + 1 + length > HELP_COLUMNS - 1 && *column > indent) {
        fprintf(out, "\n%*s", indent, "");
        *column = indent;
    } else {
        fputc(' ', out);
        (*column)++;
    }
    fputs(word, out);
    *column += length;
}

void cli_print_usage(FILE *out, const char *command, const cli_spec *spec) {
    int column = fprintf(out, "usage: cnnrun %s", command), indent = column + 1;
    char word[200], label[160];
    for (int i = 0; i < spec->n_positionals; i++)
        if (!spec->positionals[i].many) usage_word(out, spec->positionals[i].name, indent, &column);
    for (int pass = 0; pass < 2; pass++) /* required options, then optional ones */
        for (int i = 0; i < spec->n_options; i++) {
            const cli_option *option = &spec->options[i];
            if ((option->required != NULL) != (pass == 0)) continue;
            synopsis_word(option, label, sizeof label);
            snprintf(word, sizeof word, pass ? "[%s]" : "%s", label);
            usage_word(out, word, indent, &column);
        }
    for (int i = 0; i < spec->n_positionals; i++)
        if (spec->positionals[i].many) {
            snprintf(word, sizeof word, "%s...", spec->positionals[i].name);
            usage_word(out, word, indent, &column);
        }
    fputc('\n', out);
}

/* `text` wrapped to the help's width, continuation lines indented by
 * `indent`; the cursor is at `column`. */
static void print_wrapped(FILE *out, const char *text, int indent, int column) {
    bool line_start = column <= indent;
    for (const char *p = text; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        int length = (int)strcspn(p, " ");
        if (!line_start && column + 1 + length > HELP_COLUMNS - 1) {
            fprintf(out, "\n%*s", indent, "");
            column = indent;
            line_start = true;
        }
        if (!line_start) {
            fputc(' ', out);
            column++;
        }
        fwrite(p, 1, (size_t)length, out);
        column += length;
        line_start = false;
        p += length;
    }
    fputc('\n', out);
}

void cli_print_help(FILE *out, const char *command, const cli_spec *spec) {
    cli_print_usage(out, command, spec);
    fprintf(out, "\n%s", spec->description);
    if (spec->n_options) {
        char label[160];
        int width = 0;
        for (int i = 0; i < spec->n_options; i++) {
            int n = (int)strlen(cli_option_label(&spec->options[i], label, sizeof label));
            if (n > width && n <= 24) width = n;
        }
        fprintf(out, "\noptions:\n");
        for (int i = 0; i < spec->n_options; i++) {
            /* a label too long for the column puts its help on the next line */
            int n = fprintf(out, "  %s", cli_option_label(&spec->options[i], label, sizeof label));
            if (n > width + 2)
                fprintf(out, "\n%*s", width + 4, "");
            else
                fprintf(out, "%*s", width + 4 - n, "");
            print_wrapped(out, spec->options[i].help, width + 4, width + 4);
        }
    }
    int column = fprintf(out, "\nExit status:") - 1;
    print_wrapped(out, spec->exit_status, 0, column);
}

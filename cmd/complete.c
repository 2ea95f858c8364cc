/* Bash completion from the same tables as the help: `cnnrun
 * __bash-completion FILE` writes the script at build time (commands, each
 * command's options, what each option's value and each positional argument
 * is), and the script asks `cnnrun __complete-layers MODEL.yaml` for layer
 * names when --layer or --layers is being completed. */
#include <stdio.h>

#include "atomic_file.h"
#include "commands.h"
#include "print.h"

/* cnnrun __complete-layers MODEL.yaml: one layer name per line; nothing
 * (and no message) for a file that does not load. */
int cmd_complete_layers(int argc, char **argv) {
    if (argc != 2) return 2;
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(argv[1], &model, &err)) return 1;
    for (int i = 0; i < model->n_layers; i++) printf("%s\n", model->layers[i].name);
    cr_model_free(model);
    return 0;
}

/* What completes an option's value or a positional: the table's `complete`
 * ("yaml", "dir", "layer", ...), "choice:a b c", or "value" for free text. */
static void value_kind(const cli_option *option, char *out, size_t size) {
    if (option->type == CLI_CHOICE) {
        int n = snprintf(out, size, "choice:");
        for (int i = 0; option->choices[i] && n < (int)size; i++)
            n += snprintf(out + n, size - (size_t)n, "%s%s", i ? " " : "", option->choices[i]);
    } else {
        snprintf(out, size, "%s", option->complete ? option->complete : "value");
    }
}

/* _cnnrun_options, _cnnrun_value and _cnnrun_positional for every command. */
static void print_tables(FILE *out) {
    fputs("# The options of a command.\n_cnnrun_options() {\n    case $1 in\n", out);
    for (int c = 0; c < cnnrun_command_count; c++) {
        const command *cmd = &cnnrun_commands[c];
        if (!cmd->spec) continue;
        fprintf(out, "    %s) echo \"--help", cmd->name);
        for (int i = 0; i < cmd->spec->n_options; i++) {
            const cli_option *o = &cmd->spec->options[i];
            if (o->name) fprintf(out, " --%s", o->name);
            if (o->short_name) fprintf(out, " -%c", o->short_name);
        }
        fputs("\" ;;\n", out);
    }
    fputs("    esac\n}\n\n# What the value of COMMAND's OPTION is; nothing for a flag.\n"
          "_cnnrun_value() {\n    case \"$1 $2\" in\n",
          out);
    for (int c = 0; c < cnnrun_command_count; c++) {
        const command *cmd = &cnnrun_commands[c];
        for (int i = 0; cmd->spec && i < cmd->spec->n_options; i++) {
            const cli_option *o = &cmd->spec->options[i];
            if (o->type == CLI_FLAG) continue;
            char kind[256];
            value_kind(o, kind, sizeof kind);
            if (o->name)
                fprintf(out, "    \"%s --%s\") echo \"%s\" ;;\n", cmd->name, o->name, kind);
            if (o->short_name)
                fprintf(out, "    \"%s -%c\") echo \"%s\" ;;\n", cmd->name, o->short_name, kind);
        }
    }
    fputs("    esac\n}\n\n# What COMMAND's N-th (from 0) argument is.\n_cnnrun_positional() {\n"
          "    case $1 in\n",
          out);
    for (int c = 0; c < cnnrun_command_count; c++) {
        const command *cmd = &cnnrun_commands[c];
        if (!cmd->spec || !cmd->spec->n_positionals) continue;
        fprintf(out, "    %s) case $2 in", cmd->name);
        for (int i = 0; i < cmd->spec->n_positionals; i++) {
            const cli_positional *p = &cmd->spec->positionals[i];
            const char *kind = p->complete ? p->complete : "value";
            if (p->many)
                fprintf(out, " *) echo %s ;;", kind);
            else
                fprintf(out, " %d) echo %s ;;", i, kind);
        }
        fputs(" esac ;;\n", out);
    }
    fputs("    esac\n}\n\n", out);
}

/* The part of the script that does not depend on the tables. */
static const char completion_functions[] =
    "# Files with extension $2 (and folders, to get to them) matching $1.\n"
    "_cnnrun_files() {\n"
    "    local IFS=$'\\n'\n"
    "    COMPREPLY+=($(compgen -d -- \"$1\") $(compgen -f -X \"!*.$2\" -- \"$1\"))\n"
    "}\n"
    "\n"
    "# Completes the word $1 as a value of kind $2.\n"
    "_cnnrun_complete_value() {\n"
    "    local cur=$1 kind=$2 model word i IFS=$'\\n'\n"
    "    case $kind in\n"
    "    choice:*) COMPREPLY=($(IFS=' ' compgen -W \"${kind#choice:}\" -- \"$cur\")) ;;\n"
    "    dir) COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
    "    image)\n"
    "        COMPREPLY=($(compgen -d -- \"$cur\"))\n"
    "        for word in png jpg jpeg bmp pgm ppm pnm gif tga psd hdr pic; do\n"
    "            COMPREPLY+=($(compgen -f -X \"!*.$word\" -- \"$cur\"))\n"
    "        done ;;\n"
    "    layer | layers)\n"
    "        # the model is the first argument ending in .yaml or .yml\n"
    "        for ((i = 2; i < COMP_CWORD; i++)); do\n"
    "            case ${COMP_WORDS[i]} in *.yaml | *.yml) model=${COMP_WORDS[i]}; break ;; esac\n"
    "        done\n"
    "        [ -n \"$model\" ] || return\n"
    "        local prefix=\n"
    "        if [ \"$kind\" = layers ] && [[ $cur == *,* ]]; then prefix=${cur%,*},; fi\n"
    "        local names\n"
    "        names=$(\"${COMP_WORDS[0]}\" __complete-layers \"$model\" 2>/dev/null | sed "
    "\"s|^|$prefix|\")\n"
    "        COMPREPLY=($(compgen -W \"$names\" -- \"$cur\"))\n"
    "        [ \"$kind\" = layers ] && compopt -o nospace 2>/dev/null ;;\n"
    "    value) ;;\n"
    "    *) _cnnrun_files \"$cur\" \"$kind\" ;;\n"
    "    esac\n"
    "    case $kind in dir | image | yaml | safetensors | png) compopt -o filenames 2>/dev/null ;; "
    "esac\n"
    "}\n"
    "\n"
    "_cnnrun() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
    "    local command=${COMP_WORDS[1]} kind i n=0\n"
    "    COMPREPLY=()\n"
    "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
    "        COMPREPLY=($(compgen -W \"$_cnnrun_commands --help --version\" -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    if [ \"$command\" = help ]; then\n"
    "        [ \"$COMP_CWORD\" -eq 2 ] && COMPREPLY=($(compgen -W \"$_cnnrun_commands\" -- "
    "\"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    if [[ $cur == --*=* ]]; then\n"
    "        kind=$(_cnnrun_value \"$command\" \"${cur%%=*}\")\n"
    "        [ -n \"$kind\" ] || return\n"
    "        _cnnrun_complete_value \"${cur#*=}\" \"$kind\"\n"
    "        COMPREPLY=(\"${COMPREPLY[@]/#/${cur%%=*}=}\")\n"
    "        return\n"
    "    fi\n"
    "    # bash splits --opt=value into --opt, = and value (COMP_WORDBREAKS)\n"
    "    if [ \"$cur\" = = ]; then\n"
    "        kind=$(_cnnrun_value \"$command\" \"$prev\")\n"
    "        [ -n \"$kind\" ] && _cnnrun_complete_value \"\" \"$kind\"\n"
    "        return\n"
    "    fi\n"
    "    [ \"$prev\" = = ] && [ \"$COMP_CWORD\" -gt 3 ] && prev=${COMP_WORDS[COMP_CWORD - 2]}\n"
    "    kind=$(_cnnrun_value \"$command\" \"$prev\")\n"
    "    if [ -n \"$kind\" ] && [ \"$COMP_CWORD\" -gt 2 ]; then\n"
    "        _cnnrun_complete_value \"$cur\" \"$kind\"\n"
    "        return\n"
    "    fi\n"
    "    if [[ $cur == -* ]]; then\n"
    "        COMPREPLY=($(compgen -W \"$(_cnnrun_options \"$command\")\" -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    # which positional argument this is: count the earlier ones\n"
    "    for ((i = 2; i < COMP_CWORD; i++)); do\n"
    "        case ${COMP_WORDS[i]} in\n"
    "        --*=* | =) ;;\n"
    "        -?*) [ -n \"$(_cnnrun_value \"$command\" \"${COMP_WORDS[i]}\")\" ] && ((i++)) ;;\n"
    "        *) ((n++)) ;;\n"
    "        esac\n"
    "    done\n"
    "    kind=$(_cnnrun_positional \"$command\" \"$n\")\n"
    "    [ -n \"$kind\" ] && _cnnrun_complete_value \"$cur\" \"$kind\"\n"
    "}\n"
    "complete -F _cnnrun cnnrun\n";

static void print_script(FILE *out) {
    fprintf(out, "# bash completion for cnnrun. Generated by 'cnnrun __bash-completion' from the\n"
                 "# command and option tables; do not edit.\n\n_cnnrun_commands=\"");
    for (int c = 0, n = 0; c < cnnrun_command_count; c++)
        if (cnnrun_commands[c].summary)
            fprintf(out, "%s%s", n++ ? " " : "", cnnrun_commands[c].name);
    fprintf(out, "\"\n\n");
    print_tables(out);
    fputs(completion_functions, out);
}

/* cnnrun __bash-completion FILE: the script, written atomically. */
int cmd_bash_completion(int argc, char **argv) {
    if (argc != 2) return cli_usage_error("__bash-completion", "needs the file to write");
    cr_atomic_file file;
    cr_error err = {0};
    if (cr_atomic_open(&file, argv[1], &err)) return report(&err);
    print_script(file.stream);
    return cr_atomic_commit(&file, true, &err) ? report(&err) : 0;
}

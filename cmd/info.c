/* cnnrun info: what a weights file says about itself (weights_info.h:
 * class names, input, normalisation, the model file and the data it was
 * trained on) and its tensors (name, dtype, shape, parameters). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "print.h"
#include "safetensors.h"
#include "weights_info.h"

typedef struct info_args {
    const char *path;
    bool model, json;
} info_args;

static const cli_option info_options[] = {
    {.name = "model",
     .type = CLI_FLAG,
     .offset = offsetof(info_args, model),
     .help = "print the model file the weights were trained with (its recorded text) and nothing "
             "else: `cnnrun info W --model > model.yaml` gives it back"},
    {.name = "json",
     .type = CLI_FLAG,
     .offset = offsetof(info_args, json),
     .help = "one JSON document: the metadata as recorded, the fields read from it, the tensors"},
};
static const cli_positional info_positionals[] = {
    {.name = "W.safetensors", .offset = offsetof(info_args, path), .complete = "safetensors"}};

const cli_spec info_spec = {
    CLI_TABLES(info_options, info_positionals),
    .description =
        "Prints what a weights file records about itself, then its tensors. Weights that\n"
        "cnnrun train writes (last.safetensors, best.safetensors) carry in their\n"
        "__metadata__ the class names, the input shape (C, H, W), the normalisation\n"
        "(mean and std per channel), the model's name, its file's SHA-256 (as sha256sum\n"
        "prints it) and text, and the data set they were trained on; predict and eval\n"
        "read them before the model file's train section. Any safetensors file is\n"
        "shown (PyTorch's too): what it does not record is left out.\n",
    .exit_status = "0 shown, 1 not a valid safetensors file, 2 usage error or unreadable file.",
};

static const char *dims_text(const cr_safetensors_entry *entry, char *out, size_t size) {
    if (entry->ndim == 0) {
        snprintf(out, size, "scalar");
        return out;
    }
    size_t used = 0;
    out[0] = '\0';
    for (int d = 0; d < entry->ndim && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, "%s%lld", d ? "×" : "",
                                 (long long)entry->shape[d]);
    return out;
}

static bool is_recorded_key(const char *key) {
    return strncmp(key, "cnnrun.", 7) == 0;
}

static void print_fields(const cr_weights_info *info) {
    char text[256];
    if (info->model_name)
        printf("model:      %s%s%s%s\n", info->model_name, info->model_sha256 ? " (sha256 " : "",
               info->model_sha256 ? info->model_sha256 : "", info->model_sha256 ? ")" : "");
    if (info->has_input) {
        shape_text(info->input, text, sizeof text);
        printf("input:      %s\n", text);
    }
    if (info->channels > 0) {
        printf("normalize:  mean [");
        for (int c = 0; c < info->channels; c++) printf("%s%g", c ? ", " : "", info->mean[c]);
        printf("], std [");
        for (int c = 0; c < info->channels; c++) printf("%s%g", c ? ", " : "", info->std[c]);
        printf("]\n");
    }
    if (info->classes > 0) {
        printf("classes:    %d:", info->classes);
        for (int c = 0; c < info->classes; c++) {
            char name[CR_CLASS_NAME_MAX * 4 + 1];
            cr_escape_text(info->class_names[c], name, sizeof name);
            printf("%s %d %s", c ? "," : "", c, name);
        }
        printf("\n");
    }
    if (info->data) printf("data:       %s\n", info->data);
}

/* A training checkpoint's recorded options (checkpoint.h), on one line. */
static void print_run_options(cr_safetensors_file *file) {
    const cr_safetensors_entry *entry =
        cr_safetensors_find(file, CR_RESERVED_NAME_PREFIX ".overrides");
    if (!entry || entry->dtype != CR_DTYPE_U8 || entry->count > 4096) return;
    int64_t *bytes = malloc((size_t)(entry->count ? entry->count : 1) * sizeof *bytes);
    char *text = malloc((size_t)entry->count + 1);
    cr_error ignored;
    if (bytes && text && !cr_safetensors_read_ints(file, entry, bytes, &ignored)) {
        for (int64_t i = 0; i < entry->count; i++)
            text[i] = bytes[i] == '\n' ? ' ' : (char)bytes[i];
        text[entry->count] = '\0';
        char shown[4096 * 4 + 1];
        cr_escape_text(text, shown, sizeof shown);
        printf("run options: %s\n", shown);
    }
    free(bytes);
    free(text);
}

static void print_text_info(cr_safetensors_file *file, const cr_weights_info *info) {
    char path[4200];
    cr_escape_text(file->path, path, sizeof path);
    printf("%s\n", path);
    print_fields(info);
    print_run_options(file);
    for (int i = 0; i < file->meta_count; i++)
        if (!is_recorded_key(file->meta[i].key)) {
            char key[256], value[1024];
            cr_escape_text(file->meta[i].key, key, sizeof key);
            cr_escape_text(file->meta[i].value, value, sizeof value);
            printf("%-11s %s\n", strcat(key, ":"), value);
        }
    int name_width = 6;
    for (int i = 0; i < file->count; i++) {
        int n = display_width(file->entries[i].name);
        if (n > name_width) name_width = n;
    }
    printf("\n");
    print_cell("tensor", name_width, 2);
    print_cell("dtype", 5, 2);
    print_cell("shape", 16, 2);
    print_cell("parameters", -12, 0);
    printf("\n");
    int64_t total = 0;
    char shape[256], count[32];
    for (int i = 0; i < file->count; i++) {
        const cr_safetensors_entry *entry = &file->entries[i];
        char name[1024];
        cr_escape_text(entry->name, name, sizeof name);
        print_cell(name, name_width, 2);
        print_cell(cr_dtype_name(entry->dtype), 5, 2);
        print_cell(dims_text(entry, shape, sizeof shape), 16, 2);
        print_cell(grouped(entry->count, count, sizeof count), -12, 0);
        printf("\n");
        total += entry->count;
    }
    printf("%d tensors, %s parameters\n", file->count, grouped(total, count, sizeof count));
}

static cJSON *info_json(const cr_safetensors_file *file, const cr_weights_info *info) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", file->path);
    cJSON *metadata = cJSON_AddObjectToObject(root, "metadata");
    for (int i = 0; i < file->meta_count; i++)
        cJSON_AddStringToObject(metadata, file->meta[i].key, file->meta[i].value);
    if (info->classes > 0)
        cJSON_AddItemToObject(
            root, "classes",
            cJSON_CreateStringArray((const char *const *)info->class_names, info->classes));
    if (info->has_input) cJSON_AddItemToObject(root, "input", shape_json(info->input));
    if (info->channels > 0) {
        cJSON *normalize = cJSON_AddObjectToObject(root, "normalize");
        cJSON_AddItemToObject(normalize, "mean",
                              cJSON_CreateFloatArray(info->mean, info->channels));
        cJSON_AddItemToObject(normalize, "std", cJSON_CreateFloatArray(info->std, info->channels));
    }
    if (info->model_name) cJSON_AddStringToObject(root, "model_name", info->model_name);
    if (info->model_sha256) cJSON_AddStringToObject(root, "model_sha256", info->model_sha256);
    if (info->data) cJSON_AddStringToObject(root, "data", info->data);
    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    int64_t total = 0;
    for (int i = 0; i < file->count; i++) {
        const cr_safetensors_entry *entry = &file->entries[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", entry->name);
        cJSON_AddStringToObject(item, "dtype", cr_dtype_name(entry->dtype));
        cJSON *shape = cJSON_AddArrayToObject(item, "shape");
        for (int d = 0; d < entry->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)entry->shape[d]));
        cJSON_AddNumberToObject(item, "parameters", (double)entry->count);
        cJSON_AddItemToArray(tensors, item);
        total += entry->count;
    }
    cJSON_AddNumberToObject(root, "parameters", (double)total);
    return root;
}

int cmd_info(int argc, char **argv) {
    info_args args = {0};
    if (cli_parse(&info_spec, argc, argv, &args)) return 2;
    cr_error err = {0};
    cr_safetensors_file *file;
    if (cr_safetensors_open(args.path, &file, &err)) return report(&err);
    cr_weights_info info;
    if (cr_weights_info_from_file(file, &info, &err)) {
        cr_safetensors_close(file);
        return report(&err);
    }
    int code = 0;
    if (args.model && !info.model_text) {
        fprintf(stderr,
                "cnnrun info: %s records no model file (weights from cnnrun train "
                "record it)\n",
                args.path);
        code = 1;
    } else if (args.model) {
        fputs(info.model_text, stdout);
    } else if (args.json) {
        print_json(info_json(file, &info));
    } else {
        print_text_info(file, &info);
    }
    cr_weights_info_free(&info);
    cr_safetensors_close(file);
    return code;
}

/* Issue 13's library pieces, each on the input that broke it: files that are
 * not regular files (lib/files.h), run folders (lib/run_folder.h: lock,
 * foreign files, stale temporary files), PNG writes (atomic, with the OS's
 * reason), error messages (the reason kept however long the path, control
 * characters escaped), model descriptions and their differences
 * (lib/describe.h), class-name files, metrics.csv epochs, limits
 * (lib/run_limits.h), stop signals (lib/stop_signals.h) and model names. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "scratch_folder.h"
#include "cnnrun.h"
#include "data.h"
#include "describe.h"
#include "files.h"
#include "image_out.h"
#include "model.h"
#include "plot.h"
#include "run_folder.h"
#include "run_limits.h"
#include "stop_signals.h"
#include "train.h"

static void formatted(const cr_error *err, char *out, size_t size) {
    cr_error_format(err, out, size);
}

/* ---- files that are not regular files ------------------------------------------------- */

static void test_regular_files_only(void) {
    cr_error err;
    const char *fifo = in_folder("pipe");
    CHECK_INT(mkfifo(fifo, 0600), 0);
    /* Opening a FIFO for reading would wait for a writer forever. */
    CHECK_INT(cr_open_regular(fifo, &err), -1);
    CHECK_CONTAINS(err.message, "is a FIFO (named pipe), not a file");
    CHECK(cr_fopen_regular(folder, &err) == NULL);
    CHECK_CONTAINS(err.message, "is a folder, not a file");
    CHECK(cr_fopen_regular("/dev/null", &err) == NULL);
    CHECK_CONTAINS(err.message, "is a character device, not a file");
    CHECK(cr_fopen_regular(in_folder("absent"), &err) == NULL);
    CHECK_CONTAINS(err.message, "cannot open: No such file or directory");
    CHECK_INT(err.kind, CR_ERR_IO);
    write_text(in_folder("plain"), "x");
    FILE *f = cr_fopen_regular(in_folder("plain"), &err);
    CHECK(f != NULL);
    if (f) {
        CHECK_INT(fgetc(f), 'x'); /* blocking reads again after the check */
        fclose(f);
    }

    /* Every reader goes through it: a model file, weights, metrics.csv. */
    cr_model *model;
    CHECK_INT(cr_model_load(fifo, &model, &err), 1);
    CHECK_CONTAINS(err.message, "is a FIFO");
    cr_metrics metrics;
    CHECK_INT(cr_metrics_read(fifo, &metrics, &err), 1);
    CHECK_CONTAINS(err.message, "is a FIFO");
    /* `plot` on a run folder whose metrics.csv is a folder. */
    CHECK_INT(mkdir(in_folder("metrics-folder"), 0700), 0);
    CHECK_INT(cr_metrics_read(in_folder("metrics-folder"), &metrics, &err), 1);
    CHECK_CONTAINS(err.message, "is a folder, not a file");
    unlink(fifo);
}

/* ---- metrics.csv and class names ------------------------------------------------------ */

static void test_metrics_epochs(void) {
    static const char *const bad[][2] = {
        {"nan", "epoch nan is not a whole number from 1 to 1e9"},
        {"1e300", "epoch 1e+300 is not a whole number from 1 to 1e9"},
        {"0", "epoch 0 is not a whole number"},
        {"1.5", "epoch 1.5 is not a whole number"},
    };
    const char *csv = in_folder("metrics.csv");
    cr_metrics metrics;
    cr_error err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n%s,1,0.5,1,0.5,0.1\n",
                 bad[i][0]);
        write_text(csv, text);
        CHECK_INT(cr_metrics_read(csv, &metrics, &err), 1);
        CHECK_CONTAINS(err.message, "line 2: ");
        CHECK_CONTAINS(err.message, bad[i][1]);
    }
    write_text(csv, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
                    "2,1,0.5,1,0.5,0.1\n1,1,0.5,1,0.5,0.1\n");
    CHECK_INT(cr_metrics_read(csv, &metrics, &err), 1);
    CHECK_CONTAINS(err.message, "line 3: epoch 1 after epoch 2: epochs must increase");
    /* Losses may be NaN (drawn as gaps); epochs may skip. */
    write_text(csv, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
                    "1,nan,0.5,1,0.5,0.1\n3,1,0.5,1,0.5,0.1\n");
    CHECK_INT(cr_metrics_read(csv, &metrics, &err), 0);
    CHECK_INT(metrics.rows, 2);
    cr_metrics_free(&metrics);
}

static void test_class_names_file(void) {
    cr_error err;
    char **names;
    /* A 100,000-character line was read as 402 names of 255 characters. */
    FILE *f = tmpfile();
    for (int i = 0; i < 9; i++) fprintf(f, "class%d\n", i);
    for (int i = 0; i < 100000; i++) fputc('x', f);
    fputc('\n', f);
    rewind(f);
    CHECK_INT(cr_class_names_read(f, "meta.txt", 10, &names, &err), 1);
    CHECK_CONTAINS(err.message, "line 10 is 100000 characters long; a class name has at most 255");
    fclose(f);
    f = tmpfile();
    fputs("airplane\n\nautomobile\r\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n", f);
    rewind(f);
    CHECK_INT(cr_class_names_read(f, "meta.txt", 10, &names, &err), 0);
    if (names) {
        CHECK(strcmp(names[1], "automobile") == 0);
        CHECK(strcmp(names[9], "truck") == 0);
        for (int i = 0; i < 10; i++) free(names[i]);
        free(names);
    }
    fclose(f);
}

/* A FIFO named like an image inside a class folder (docs/data.md: nothing
 * skipped silently). */
static void test_special_file_in_class_folder(void) {
    const char *root = in_folder("pets");
    CHECK_INT(mkdir(root, 0700), 0);
    CHECK_INT(mkdir(in_folder("pets/cat"), 0700), 0);
    CHECK_INT(mkfifo(in_folder("pets/cat/x.png"), 0600), 0);
    cr_data_source source;
    cr_error err;
    char text[64 + 4096];
    snprintf(text, sizeof text, "folder:%s", root);
    CHECK_INT(cr_data_source_parse(text, &source, &err), 0);
    cr_dataset data;
    CHECK_INT(cr_data_load(&source, false, (cr_shape){1, 4, 4}, &data, &err), 1);
    CHECK_CONTAINS(err.message, "is a FIFO (named pipe) inside a class folder");
    CHECK_CONTAINS(err.file, "cat/x.png");
}

/* ---- run folders ---------------------------------------------------------------------- */

static void test_run_folder(void) {
    cr_error err;
    cr_run_folder first, second;
    const char *dir = in_folder("runs/tiny");
    CHECK_INT(cr_run_folder_open(dir, false, &first, &err), 0);
    /* A second run in the same folder fails at once, naming the holder. */
    char pid[64];
    snprintf(pid, sizeof pid, "in use by another cnnrun run (PID %ld)", (long)getpid());
    CHECK_INT(cr_run_folder_open(dir, false, &second, &err), 1);
    CHECK_CONTAINS(err.message, pid);
    /* Without --out the next free name is taken instead. */
    CHECK_INT(cr_run_folder_open_next(dir, &second, &err), 0);
    CHECK_CONTAINS(second.path, "runs/tiny-2");
    cr_run_folder_close(&second);
    cr_run_folder_close(&first);

    /* Files of its own run are fine; someone else's are not replaced. */
    write_text(in_folder("runs/tiny/notes.txt"), "mine");
    CHECK_INT(cr_run_folder_open(dir, false, &first, &err), 1);
    CHECK_CONTAINS(err.message, "holds files cnnrun did not write ('notes.txt')");
    CHECK_INT(cr_run_folder_open_next(dir, &first, &err), 0);
    CHECK_CONTAINS(first.path, "runs/tiny-2");
    cr_run_folder_close(&first);
    /* A resumed folder is the run's own: no such check. */
    CHECK_INT(cr_run_folder_open(dir, true, &first, &err), 0);
    cr_run_folder_close(&first);

    /* Interrupted writes' temporary files go; others' files with the same look stay. */
    write_text(in_folder("runs/tiny-2/checkpoint.safetensors.tmp-Ab12Cd"), "partial");
    write_text(in_folder("runs/tiny-2/last.safetensors.tmp-zzzzzz"), "partial");
    CHECK_INT(cr_run_folder_open(in_folder("runs/tiny-2"), true, &first, &err), 0);
    CHECK_INT(first.removed_temps, 2);
    CHECK(access(in_folder("runs/tiny-2/checkpoint.safetensors.tmp-Ab12Cd"), F_OK) != 0);
    cr_run_folder_close(&first);
    write_text(in_folder("runs/tiny/notes.txt.tmp-Ab12Cd"), "theirs");
    CHECK_INT(cr_run_folder_open(dir, true, &first, &err), 0);
    CHECK_INT(first.removed_temps, 0);
    cr_run_folder_close(&first);

    /* A plain file where the folder should be. */
    write_text(in_folder("runs/file"), "x");
    CHECK_INT(cr_run_folder_open(in_folder("runs/file/sub"), false, &first, &err), 1);
    CHECK_CONTAINS(err.message, "is a file");
}

/* The lock belongs to the process: a child holding it makes the parent fail. */
static void test_run_folder_other_process(void) {
    const char *dir = in_folder("runs/shared");
    int ready[2];
    CHECK_INT(pipe(ready), 0);
    pid_t child = fork();
    if (child == 0) {
        cr_run_folder folder;
        cr_error err;
        char byte = cr_run_folder_open(dir, false, &folder, &err) == 0 ? 'y' : 'n';
        if (write(ready[1], &byte, 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char byte = 0;
    CHECK_INT((int)read(ready[0], &byte, 1), 1);
    CHECK_INT(byte, 'y');
    cr_run_folder folder;
    cr_error err;
    char pid[64];
    snprintf(pid, sizeof pid, "(PID %ld)", (long)child);
    CHECK_INT(cr_run_folder_open(dir, true, &folder, &err), 1);
    CHECK_CONTAINS(err.message, pid);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    /* The lock died with its holder. */
    CHECK_INT(cr_run_folder_open(dir, true, &folder, &err), 0);
    cr_run_folder_close(&folder);
    close(ready[0]);
    close(ready[1]);
}

/* ---- PNG writes ----------------------------------------------------------------------- */

static void test_png_write_errors(void) {
    cr_picture picture;
    cr_error err;
    CHECK_INT(cr_picture_create(&picture, 8, 8, 1, 200, &err), 0);
    /* A missing folder: the reason, not "cannot write the PNG file". */
    CHECK_INT(cr_picture_write_png(&picture, in_folder("no-such-folder/x.png"), &err), 1);
    CHECK_CONTAINS(err.message, "No such file or directory");
    /* Written whole, and an existing picture is replaced, not written into. */
    const char *path = in_folder("x.png");
    write_text(path, "old picture");
    CHECK_INT(cr_picture_write_png(&picture, path, &err), 0);
    struct stat info;
    CHECK_INT(stat(path, &info), 0);
    CHECK(info.st_size > 8);
    FILE *f = fopen(path, "rb");
    unsigned char magic[4] = {0};
    if (f) {
        CHECK_INT((int)fread(magic, 1, 4, f), 4);
        fclose(f);
    }
    CHECK(memcmp(magic, "\x89PNG", 4) == 0);
    cr_picture_free(&picture);
}

/* ---- messages ------------------------------------------------------------------------- */

static void test_long_paths_keep_the_reason(void) {
    char path[10001];
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    cr_error err;
    cr_fail(&err, CR_ERR_IO, (cr_mark){0}, NULL, "cannot create the run folder 'runs/%s': %s", path,
            "File name too long");
    char text[2048];
    formatted(&err, text, sizeof text);
    CHECK_CONTAINS(text, "cannot create the run folder 'runs/aaa");
    CHECK_CONTAINS(text, "...");
    CHECK_CONTAINS(text, "aaa': File name too long");
    /* And in the file part of a message. */
    cr_fail_file(&err, CR_ERR_IO, path, "cannot open: %s", "No such file or directory");
    formatted(&err, text, sizeof text);
    CHECK_CONTAINS(text, "...");
    CHECK_CONTAINS(text, "aaa: cannot open: No such file or directory");
}

static void test_escaped_for_terminals(void) {
    char out[256];
    cr_escape_text("\x1b[2Jname\x07\n\xc2\x9b"
                   "caf\xc3\xa9",
                   out, sizeof out);
    CHECK(strcmp(out, "\\x1b[2Jname\\x07\\n\\u009bcafé") == 0);
    cr_error err;
    cr_fail(&err, CR_ERR_INVALID, (cr_mark){"m.yaml", 3, 9}, "\x1b[2J", "model '%s' is bad",
            "\x1b]0;title\x07");
    char text[512];
    formatted(&err, text, sizeof text);
    CHECK(strchr(text, '\x1b') == NULL);
    CHECK_CONTAINS(text, "layer '\\x1b[2J': model '\\x1b]0;title\\x07' is bad");
}

/* ---- model names and the model description -------------------------------------------- */

static int load(const char *yaml, cr_model **model, cr_error *err) {
    return cr_model_load_text(yaml, strlen(yaml), "m.yaml", model, err);
}

static void test_names(void) {
    static const char *const bad[][2] = {
        {"name: \"../../escaped\"\n",
         "m.yaml:1:7: 'name' cannot be '../../escaped': it contains '/'"},
        {"name: \"..\"\n", "m.yaml:1:7: 'name' cannot be '..': '.' and '..' name folders"},
        {"name: \"\\e[2J\"\n", "'name' cannot be '\\x1b[2J': it contains a control character"},
        {"name: \"a\\x9b2J\"\n", "'name' cannot be 'a\\u009b2J': it contains a control character"},
        {"name: \"\"\n", "m.yaml:1:7: 'name' is empty"},
    };
    cr_model *model;
    cr_error err;
    char text[2048];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, "%sinput: [1, 4, 4]\nlayers:\n  - {type: flatten}\n",
                 bad[i][0]);
        CHECK_INT(load(yaml, &model, &err), 1);
        formatted(&err, text, sizeof text);
        CHECK_CONTAINS(text, bad[i][1]);
    }
    CHECK_INT(load("input: [1, 4, 4]\nlayers:\n  - {type: flatten, name: \"a/b\"}\n", &model, &err),
              1);
    formatted(&err, text, sizeof text);
    CHECK_CONTAINS(text, "m.yaml:3:21: layer 'a/b': 'name' cannot be 'a/b'");
    /* Reserved for checkpoints: `check` refuses it, not the first save. */
    CHECK_INT(load("input: [1, 4, 4]\nlayers:\n  - {type: flatten, name: __checkpoint__}\n", &model,
                   &err),
              1);
    formatted(&err, text, sizeof text);
    CHECK_CONTAINS(text, "m.yaml:3:21: layer '__checkpoint__': layer names cannot start with "
                         "'__checkpoint__'");
    /* Inline numbers beyond float32 would become inf. */
    CHECK_INT(load("input: [1, 1, 2]\nlayers:\n  - {type: flatten}\n"
                   "  - {type: dense, units: 1, weights: [[1, 1e300]], bias: [0]}\n",
                   &model, &err),
              1);
    formatted(&err, text, sizeof text);
    CHECK_CONTAINS(text, "m.yaml:4:43: layer 'dense1': 'weights' holds 1e+300, beyond float32's");
}

static char *describe(const char *yaml) {
    cr_model *model;
    cr_error err;
    if (load(yaml, &model, &err)) {
        char text[2048];
        formatted(&err, text, sizeof text);
        printf("%s\n", text);
        return NULL;
    }
    cr_transform transform = {0};
    char *description = cr_model_describe(model, &transform);
    cr_model_free(model);
    return description;
}

static void test_description_differences(void) {
    const char *base = "input: [1, 8, 8]\nlayers:\n"
                       "  - {type: conv, name: c1, filters: 2, kernel: 3, activation: relu}\n"
                       "  - {type: dropout, rate: 0.5}\n"
                       "  - {type: flatten}\n  - {type: dense, name: out, units: 3}\n";
    static const char *const changed[][3] = {
        {"activation: relu", "activation: tanh", "layer 'c1' activation tanh (was relu)"},
        {"rate: 0.5", "rate: 0.25", "layer 'dropout1' rate 0.25 (was 0.5)"},
        {"units: 3}", "units: 3, trainable: false}", "layer 'out' trainable false (was true)"},
    };
    char *before = describe(base);
    CHECK(before != NULL);
    char diff[700];
    for (size_t i = 0; before && i < sizeof changed / sizeof changed[0]; i++) {
        char yaml[1024];
        const char *at = strstr(base, changed[i][0]);
        snprintf(yaml, sizeof yaml, "%.*s%s%s", (int)(at - base), base, changed[i][1],
                 at + strlen(changed[i][0]));
        char *after = describe(yaml);
        CHECK(after != NULL);
        if (!after) continue;
        CHECK_INT(cr_describe_diff(before, after, diff, sizeof diff), 1);
        CHECK_CONTAINS(diff, changed[i][2]);
        free(after);
    }
    if (before) CHECK_INT(cr_describe_diff(before, before, diff, sizeof diff), 0);
    free(before);
}

/* ---- limits --------------------------------------------------------------------------- */

static void test_limits(void) {
    cr_error err;
    CHECK(cr_thread_limit() >= 1024);
    cr_set_threads(cr_thread_limit() + 1);
    CHECK_INT(cr_check_threads(&err), 1);
    CHECK_CONTAINS(err.message, "threads asked for");
    CHECK_INT(err.kind, CR_ERR_USAGE);
    cr_set_threads(1);
    CHECK_INT(cr_check_threads(&err), 0);
    const char *source;
    int64_t limit = cr_memory_limit(&source);
    CHECK(limit > 0);
    CHECK_INT(cr_check_memory(limit / 2, "training at batch 1", &err), 0);
    CHECK_INT(cr_check_memory(limit + 1, "training at batch 9", &err), 1);
    CHECK_CONTAINS(err.message, "training at batch 9 needs ");
    CHECK_CONTAINS(err.message, "more than");
    /* The network refuses before allocating anything. */
    cr_model *model;
    CHECK_INT(load("input: [3, 1000, 1000]\nlayers:\n  - {type: conv, filters: 64, kernel: 3}\n",
                   &model, &err),
              0);
    if (model) {
        cr_net *net;
        cr_net_options options = {.training = true};
        CHECK_INT(cr_net_create(model, 1000000, &options, &net, &err), 1);
        CHECK_CONTAINS(err.message, "training at batch 1000000 needs ");
        cr_model_free(model);
    }
}

/* ---- signals -------------------------------------------------------------------------- */

static void test_stop_signals(void) {
    static volatile sig_atomic_t stop;
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        cr_stop_signals_install(&stop);
        raise(signals[i]);
        CHECK_INT(stop, signals[i]); /* the first asks to stop; the process lives on */
        cr_stop_signals_restore();
    }
    /* A second signal ends the program by that signal. */
    pid_t child = fork();
    if (child == 0) {
        cr_stop_signals_install(&stop);
        raise(SIGTERM);
        raise(SIGHUP);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP);
}

int main(void) {
    if (scratch_folder_make("reliability")) return 1;
    test_regular_files_only();
    test_metrics_epochs();
    test_class_names_file();
    test_special_file_in_class_folder();
    test_run_folder();
    test_run_folder_other_process();
    test_png_write_errors();
    test_long_paths_keep_the_reason();
    test_escaped_for_terminals();
    test_names();
    test_description_differences();
    test_limits();
    test_stop_signals();
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    if (system(command) != 0) printf("could not remove %s\n", folder);
    return check_report();
}

/* cnnrun train: train a model on its data set with progress on the
 * terminal, checkpoints in a locked run folder, resume and stop signals; under mpirun,
 * data-parallel over the ranks. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "commands.h"
#include "dist.h"
#include "init_weights.h"
#include "parallel.h"
#include "print.h"
#include "run_folder.h"
#include "run_limits.h"
#include "stop_signals.h"
#include "train.h"

typedef struct train_args {
    const char *path, *data, *out, *init, *resume;
    int epochs, batch_size, threads; /* 0: the train section's (threads: every core) */
    double lr;                       /* 0: the train section's */
    cli_seed seed;
    bool no_shuffle, quiet, json, init_report, init_partial;
    int64_t max_steps;
    int loader_threads;
} train_args;

#define TRAIN_OPTION(field) .offset = offsetof(train_args, field)
static const cli_option train_options[] = {
    {.name = "data",
     .type = CLI_STRING,
     TRAIN_OPTION(data),
     .arg = "D",
     .help = "the data set instead of the train section's: fashion-mnist, mnist:DIR, "
             "cifar10:DIR or folder:TRAIN_DIR,TEST_DIR"},
    {.name = "epochs",
     .type = CLI_INT,
     TRAIN_OPTION(epochs),
     .min = 1,
     .arg = "N",
     .help = "epochs to train (a resumed run may be given more)"},
    {.name = "batch-size",
     .type = CLI_INT,
     TRAIN_OPTION(batch_size),
     .min = 1,
     .arg = "B",
     .help = "images per optimizer step"},
    {.name = "lr",
     .type = CLI_FLOAT,
     TRAIN_OPTION(lr),
     .arg = "X",
     .help = "the base learning rate (a resumed run may be given a lower one)"},
    {.name = "seed",
     .type = CLI_SEED,
     TRAIN_OPTION(seed),
     .arg = "S",
     .help = "seed of the initial weights, the data order, augmentation and dropout"},
    {.name = "threads",
     .type = CLI_INT,
     TRAIN_OPTION(threads),
     .min = 1,
     .arg = "N",
     .help = "cnnrun's threads (default: every core); a fixed N gives the same bits"},
    {.name = "loader-threads",
     .type = CLI_INT,
     TRAIN_OPTION(loader_threads),
     .min = 0,
     .max = 64,
     .arg = "N",
     .help = "threads preparing (augmenting) batches ahead of the step (default 1; 0: the "
             "step's own thread); the batches are the same bits with any N"},
    {.name = "out",
     .type = CLI_PATH,
     TRAIN_OPTION(out),
     .arg = "DIR",
     .complete = "dir",
     .help = "run folder (default runs/MODEL_NAME, or runs/MODEL_NAME-2, ... when that one "
             "already holds a run)"},
    {.name = "init",
     .type = CLI_PATH,
     TRAIN_OPTION(init),
     .arg = "W.safetensors",
     .complete = "safetensors",
     .help = "start from these weights instead of random ones, matched by tensor name; "
             "unexpected tensors are ignored, missing or mismatched ones are an error"},
    {.name = "init-report",
     .type = CLI_FLAG,
     TRAIN_OPTION(init_report),
     .help = "with --init: one line per tensor, loaded, missing, unexpected or shape "
             "mismatch, then the counts"},
    {.name = "init-partial",
     .type = CLI_FLAG,
     TRAIN_OPTION(init_partial),
     .help = "with --init: missing and mismatched tensors keep their fresh initialisation (a "
             "new head) and training goes on"},
    {.name = "resume",
     .type = CLI_PATH,
     TRAIN_OPTION(resume),
     .arg = "DIR",
     .complete = "dir",
     .help = "continue the run in DIR exactly where it stopped, with the options it was "
             "started with (recorded in its checkpoint); a lower --lr or more --epochs may be "
             "given, the data order may not change"},
    {.name = "max-steps",
     .type = CLI_COUNT,
     TRAIN_OPTION(max_steps),
     .min = 1,
     .arg = "N",
     .help = "stop (with a checkpoint) after N optimizer steps of the run"},
    {.name = "no-shuffle",
     .type = CLI_FLAG,
     TRAIN_OPTION(no_shuffle),
     .help = "the training images in file order every epoch"},
    {.name = "quiet",
     .type = CLI_FLAG,
     TRAIN_OPTION(quiet),
     .help = "no progress and no line about the model's warnings, only the result"},
    {.name = "json",
     .type = CLI_FLAG,
     TRAIN_OPTION(json),
     .help = "one JSON line per epoch on stdout, for scripts: {epoch, epochs, train_loss, "
             "train_accuracy, val_loss, val_accuracy, lr, seconds, best}; the messages for "
             "people go to stderr"},
};
static const cli_positional train_positionals[] = {MODEL_POSITIONAL(train_args, path)};

const cli_spec train_spec = {
    CLI_TABLES(train_options, train_positionals),
    .description =
        "Trains the model with its file's train section (data, epochs, batch_size,\n"
        "optimizer, schedule, seed, validation, normalize, augment, loss, clip_grad_norm,\n"
        "early_stopping; see\n"
        "docs/training.md); the options override it. After every epoch it evaluates\n"
        "the validation set and writes, atomically, to the run folder:\n"
        "  metrics.csv             epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
        "  last.safetensors        the latest weights\n"
        "  best.safetensors        the best epoch's weights (validation accuracy, or val_loss\n"
        "                          for mse or early_stopping's monitor)\n"
        "  checkpoint.safetensors  weights, optimizer state, position and random streams\n\n"
        "Ctrl-C, SIGTERM or SIGHUP finishes the current step, saves a checkpoint and says\n"
        "how to resume; a second one ends the program at once. The run folder is locked\n"
        "while a run writes it: a second run into it fails at once, naming the first.\n"
        "A loss that becomes NaN or infinite stops the run and keeps the last checkpoint.\n"
        "Under mpirun -np N (a build with MPI), N ranks train data-parallel: batch_size\n"
        "stays the global batch, rank 0 prints and writes (docs/distributed.md).\n",
    .exit_status = "0 trained (or stopped by --max-steps), 1 invalid model or data, a NaN loss or "
                   "an interrupted run, 2 usage error or unreadable file.",
};

/* 75 -> "1:15", 3725 -> "1:02:05" */
static const char *duration_text(double seconds, char *out, size_t size) {
    long total = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;
    if (total >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
    else
        snprintf(out, size, "%ld:%02ld", total / 60, total % 60);
    return out;
}

/* Where the messages for people go: stdout, or stderr with --json (stdout
 * then carries one JSON line per epoch, for scripts). */
static FILE *human;

/* The signal that asked the run to stop (stop_signals.h), or 0. */
static volatile sig_atomic_t stop_requested;

typedef struct train_display {
    bool terminal; /* one updating line per epoch, redrawn with \r */
    bool quiet;
    bool json; /* one JSON line per epoch on stdout */
    double last_drawn;
    bool line_open;
} train_display;

static void show_start(void *user, const cr_train_start *start) {
    train_display *display = user;
    if (display->quiet) return;
    char a[32], b[32];
    fprintf(human, "%s images for training, %s for validation: %lld steps of %d images per epoch\n",
            grouped(start->train_images, a, sizeof a),
            grouped(start->validation_images, b, sizeof b), (long long)start->steps_per_epoch,
            start->batch_size);
    if (start->requested_batch_size > start->batch_size)
        fprintf(human, "note: batch size %d is more than the %s training images: batches of %d\n",
                start->requested_batch_size, a, start->batch_size);
    if (start->resumed)
        fprintf(human, "resuming at epoch %d of %d, step %lld\n", start->start_epoch, start->epochs,
                (long long)start->start_step);
    if (start->unverified)
        fprintf(human,
                "note: the checkpoint has no checksums (written by an older cnnrun): its tensors "
                "could not be verified\n");
    if (start->changes && start->changes[0])
        fprintf(human, "changed since the checkpoint: %s\n", start->changes);
    fflush(human);
}

/* The progress line must fit the terminal: a wrapped line cannot be
 * redrawn with \r. The bar takes what the numbers leave. */
static int terminal_columns(void) {
    struct winsize size;
    if (ioctl(fileno(human), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 80;
}

/* "acc 88.41%", or for mse (no accuracy) "rmse 0.1234". */
static const char *metric_text(bool has_accuracy, double loss, double accuracy, char *out,
                               size_t size) {
    if (has_accuracy)
        snprintf(out, size, "acc %.2f%%", 100 * accuracy);
    else
        snprintf(out, size, "rmse %.4f", sqrt(loss));
    return out;
}

static void show_step(void *user, const cr_train_progress *p) {
    train_display *display = user;
    if (!display->terminal || display->quiet) return;
    double now = cr_monotonic_seconds();
    if (p->step != p->steps && now - display->last_drawn < 0.1) return;
    display->last_drawn = now;
    char numbers[200], eta[32], run_eta[32], bar[64], metric[48];
    snprintf(numbers, sizeof numbers, " %lld/%lld loss %.4f %s %.0f img/s ETA %s (run %s)",
             (long long)p->step, (long long)p->steps, p->loss,
             metric_text(p->has_accuracy, p->loss, p->accuracy, metric, sizeof metric),
             p->images_per_second, duration_text(p->eta_seconds, eta, sizeof eta),
             duration_text(p->run_eta_seconds, run_eta, sizeof run_eta));
    char epoch[32];
    snprintf(epoch, sizeof epoch, "epoch %d/%d ", p->epoch, p->epochs);
    int width = terminal_columns() - 1 - (int)strlen(epoch) - (int)strlen(numbers) - 2;
    if (width > 30) width = 30;
    if (width < 0) width = 0;
    int filled = (int)(width * p->step / (p->steps ? p->steps : 1));
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    if (width)
        fprintf(human, "\r\033[K%s[%s]%s", epoch, bar, numbers);
    else
        fprintf(human, "\r\033[K%s%s", epoch, numbers + 1);
    fflush(human);
    display->line_open = true;
}

/* --json: the epoch as one line, {"epoch", "epochs", "train_loss",
 * "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "best"},
 * the figures at full precision. */
static void print_epoch_json(const cr_epoch_result *e) {
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "epoch", e->epoch);
    cJSON_AddNumberToObject(line, "epochs", e->epochs);
    cJSON_AddNumberToObject(line, "train_loss", e->train_loss);
    cJSON_AddNumberToObject(line, "train_accuracy", e->train_accuracy);
    cJSON_AddNumberToObject(line, "val_loss", e->val_loss);
    cJSON_AddNumberToObject(line, "val_accuracy", e->val_accuracy);
    /* The float as the shortest text that reads back to it (0.1, not 0.10000000149011612). */
    char lr[32];
    cJSON_AddRawToObject(line, "lr", cr_float_text(e->lr, lr, sizeof lr));
    cJSON_AddNumberToObject(line, "seconds", e->seconds);
    cJSON_AddBoolToObject(line, "best", e->best);
    char *text = cJSON_PrintUnformatted(line);
    if (text) printf("%s\n", text);
    fflush(stdout);
    free(text);
    cJSON_Delete(line);
}

static void show_epoch(void *user, const cr_epoch_result *e) {
    train_display *display = user;
    if (display->json) print_epoch_json(e);
    if (display->quiet) return;
    if (display->line_open) fprintf(human, "\r\033[K");
    display->line_open = false;
    char train[48], val[48];
    fprintf(human, "epoch %d/%d  train loss %.4f %s  val loss %.4f %s  lr %.4g  %.1f s%s\n",
            e->epoch, e->epochs, e->train_loss,
            metric_text(e->has_accuracy, e->train_loss, e->train_accuracy, train, sizeof train),
            e->val_loss,
            metric_text(e->has_accuracy, e->val_loss, e->val_accuracy, val, sizeof val),
            (double)e->lr, e->seconds, e->best ? "  (best)" : "");
    fflush(human);
}

/* --out names another folder than --resume (compared as folders, so
 * "runs/x" and "runs/x/" are one). Without a run to resume, cr_train says so. */
static bool another_folder(const char *resume, const char *out) {
    struct stat r, o;
    if (stat(resume, &r) != 0) return false;
    return stat(out, &o) != 0 || r.st_dev != o.st_dev || r.st_ino != o.st_ino;
}

static int parse_train_args(int argc, char **argv, train_args *a, bool *given) {
    if (cli_parse_given(&train_spec, argc, argv, a, given)) return 2;
    if (a->resume && a->init)
        return cli_usage_error("train", "%s",
                               "--init and --resume do not go together: a resumed run continues "
                               "from its checkpoint's weights");
    if (!a->init && (a->init_report || a->init_partial))
        return cli_usage_error("train", "%s needs --init W.safetensors",
                               a->init_report ? "--init-report" : "--init-partial");
    if (a->resume && a->out && another_folder(a->resume, a->out))
        return cli_usage_error("train", "%s",
                               "--resume DIR continues the run in DIR: --out cannot name another "
                               "folder");
    return 0;
}

static void print_run_files(const char *dir, const cr_train_result *result) {
    fprintf(human, "files in %s/:\n", dir);
    char path[4200];
    struct stat info;
    snprintf(path, sizeof path, "%s/%s", dir, CR_RUN_METRICS);
    if (stat(path, &info) == 0) fprintf(human, "  %-24s one row per epoch\n", CR_RUN_METRICS);
    fprintf(human, "  %-24s the latest weights\n", CR_RUN_LAST);
    if (result->best_epoch && result->best_accuracy >= 0)
        fprintf(human, "  %-24s the best epoch's weights (epoch %d, validation accuracy %.2f%%)\n",
                CR_RUN_BEST, result->best_epoch, 100 * result->best_accuracy);
    else if (result->best_epoch)
        fprintf(human, "  %-24s the best epoch's weights (epoch %d)\n", CR_RUN_BEST,
                result->best_epoch);
    fprintf(human, "  %-24s everything --resume needs\n", CR_RUN_CHECKPOINT);
}

/* The options that override the train section. */
static void apply_overrides(const train_args *a, cr_train_config *config) {
    if (a->epochs) config->epochs = a->epochs;
    if (a->batch_size) config->batch_size = a->batch_size;
    if (a->lr > 0) config->optimizer.lr = (float)a->lr;
    if (a->seed.given) config->seed = a->seed.value;
}

/* overridden[row] for the settings table's rows (train_settings.h) whose
 * option was given. */
static void mark_overrides(const bool *given, bool *overridden) {
    for (int row = 0; row < cr_train_setting_count; row++) {
        const char *option = cr_train_settings[row].option;
        int index = option ? cli_option_index(&train_spec, option) : -1;
        overridden[row] = index >= 0 && given[index];
    }
}

/* The overrides recorded in the checkpoint of the run in `dir` (rank 0
 * reads them, every rank gets them): "" when there are none or no
 * checkpoint (then cr_train says what is missing). */
static int recorded_overrides(const char *dir, char *out, size_t size, cr_error *err) {
    int status = 0;
    out[0] = '\0';
    if (cr_dist_rank() == 0) {
        char path[4200];
        struct stat info;
        snprintf(path, sizeof path, "%s/%s", dir, CR_RUN_CHECKPOINT);
        cr_checkpoint_state saved;
        if (stat(path, &info) == 0 && !(status = cr_checkpoint_peek(path, &saved, err))) {
            if (saved.overrides && strlen(saved.overrides) < size)
                snprintf(out, size, "%s", saved.overrides);
            else if (saved.overrides)
                status = cr_fail_file(err, CR_ERR_INVALID, path,
                                      "its recorded options are too "
                                      "long (%zu bytes)",
                                      strlen(saved.overrides));
            cr_checkpoint_state_free(&saved);
        }
    }
    if (cr_dist_agree(status, err)) return 1;
    cr_dist_broadcast(out, (int64_t)size);
    return 0;
}

/* A resumed run's arguments: the options it recorded (one "--OPTION=VALUE"
 * a line in `recorded`, which this rewrites), then this command line's, so
 * that an option given again wins and a changed value meets the settings
 * table's rules in cr_train. argv is the command line as typed. */
static int merge_recorded(char *recorded, int argc, char **argv, train_args *a, bool *given) {
    char *merged[CLI_MAX_OPTIONS + 256];
    int n = 0;
    merged[n++] = argv[0];
    for (char *line = strtok(recorded, "\n"); line && n < CLI_MAX_OPTIONS;
         line = strtok(NULL, "\n"))
        merged[n++] = line;
    if (argc + n > (int)(sizeof merged / sizeof merged[0]))
        return cli_usage_error("train", "too many arguments");
    for (int i = 1; i < argc; i++) merged[n++] = argv[i];
    *a = (train_args){0};
    return parse_train_args(n, merged, a, given);
}

/* The run folder, opened (and locked) by rank 0 before the data is loaded,
 * so that a second run into it fails at once: --resume DIR, --out DIR, or
 * runs/NAME, runs/NAME-2, ... (the first not holding or writing a run: an
 * accidental second `cnnrun train` never overwrites the first, even when
 * both start together). Every rank gets its path. */
static int open_run_folder(const train_args *a, const char *model_name, cr_run_folder *folder,
                           cr_error *err) {
    folder->lock_fd = -1;
    int status = 0;
    if (cr_dist_rank() == 0) {
        char base[4096];
        snprintf(base, sizeof base, "runs/%s", model_name);
        status = a->resume ? cr_run_folder_open(a->resume, true, folder, err)
                 : a->out  ? cr_run_folder_open(a->out, false, folder, err)
                           : cr_run_folder_open_next(base, folder, err);
    }
    if (cr_dist_agree(status, err)) return 1;
    cr_dist_broadcast(folder->path, sizeof folder->path);
    return 0;
}

static void print_plan(const train_args *a, const cr_model *model, const cr_train_config *config,
                       const cr_run_folder *run_folder) {
    const char *run_dir = run_folder->path;
    char name[256], folder[4096 * 4];
    cr_escape_text(model->name, name, sizeof name);
    cr_escape_text(run_dir, folder, sizeof folder);
    fprintf(human, "training '%s' (%s) for %d epochs, batch %d, %s lr %g, seed %llu\n", name,
            a->path, config->epochs, config->batch_size, cr_optimizer_name(config->optimizer.type),
            (double)config->optimizer.lr, (unsigned long long)config->seed);
    fprintf(human, "run folder: %s\n", folder);
    if (run_folder->removed_temps)
        fprintf(human, "note: removed %d temporary file%s that an interrupted write left there\n",
                run_folder->removed_temps, run_folder->removed_temps == 1 ? "" : "s");
    fprintf(human, "loading data ...\n");
    fflush(human);
}

/* What --init will load, before anything else happens (a strict init that
 * cannot fit fails here, with the report on stderr): with --init-report
 * every tensor, else only the counts. */
static int show_init(const train_args *a, const cr_model *model, cr_error *err) {
    cr_init_report init;
    if (cr_init_report_make(model, a->init, &init, err)) return 1;
    int misfits = init.blocking;
    bool fails = misfits && !a->init_partial;
    FILE *out = fails ? stderr : human;
    char line[1200];
    for (int i = 0; i < init.count && (a->init_report || fails); i++)
        fprintf(out, "%s\n", cr_init_report_line(&init, i, line, sizeof line));
    if (a->init_report || fails || !a->quiet)
        fprintf(out, "%s\n", cr_init_report_summary(&init, line, sizeof line));
    if (!fails && misfits && !a->quiet)
        fprintf(human, "the %d missing or mismatched tensor%s keep%s the fresh initialisation\n",
                misfits, misfits == 1 ? "" : "s", misfits == 1 ? "s" : "");
    fflush(out);
    cr_init_report_free(&init);
    /* The lines above name them all. */
    return fails ? cr_fail_file(err, CR_ERR_INVALID, a->init,
                                "%d of the model's tensors do not fit (listed above); give "
                                "--init-partial to keep their fresh initialisation and train on",
                                misfits)
                 : 0;
}

/* cr_train with the first SIGINT, SIGTERM or SIGHUP asking it to stop after
 * the current step (stop_signals.h). */
static int train_until_stopped(cr_model *model, const cr_train_config *config,
                               const cr_dataset *train, const cr_dataset *validation,
                               const cr_train_options *options, train_display *display,
                               cr_train_result *result, cr_error *err) {
    cr_train_callbacks callbacks = {
        .user = display, .on_start = show_start, .on_step = show_step, .on_epoch = show_epoch};
    cr_stop_signals_install(&stop_requested);
    int status = cr_train(model, config, train, validation, options, &callbacks, result, err);
    cr_stop_signals_restore();
    if (display->line_open) fprintf(human, "\n");
    return status;
}

/* `text` as one shell word: as it is when it holds only characters no
 * shell treats specially, else in single quotes ('\'' for a quote). */
static const char *shell_word(const char *text, char *out, size_t size) {
    if (text[0] && strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "_-./,:+=@%") == strlen(text))
        return text;
    size_t used = 0;
    out[used++] = '\'';
    for (const char *c = text; *c && used + 5 < size; c++) {
        if (*c == '\'') {
            memcpy(out + used, "'\\''", 4);
            used += 4;
        } else {
            out[used++] = *c;
        }
    }
    out[used++] = '\'';
    out[used] = '\0';
    return out;
}

/* What a run that returned without an error says: done, or how to resume.
 * Returns the exit code (an interrupted run's is 1). */
static int print_outcome(const train_args *a, const cr_train_config *config, const char *run_dir,
                         const cr_train_result *result) {
    if (result->status == CR_TRAIN_EARLY_STOPPED) {
        const cr_early_stopping *stopping = &config->early_stopping;
        fprintf(
            human,
            "stopped early after epoch %d: %s did not improve by more than %g for %d epoch%s\n",
            result->epoch, stopping->monitor == CR_MONITOR_VAL_LOSS ? "val_loss" : "val_accuracy",
            (double)stopping->min_delta, stopping->patience, stopping->patience == 1 ? "" : "s");
    }
    if (result->status == CR_TRAIN_FINISHED || result->status == CR_TRAIN_EARLY_STOPPED) {
        if (result->epochs_run == 0 && result->status == CR_TRAIN_FINISHED)
            fprintf(human, "the run in %s had already finished its %d epochs (more: --epochs N)\n",
                    run_dir, config->epochs);
        if (cr_loss_has_accuracy(config->loss.type))
            fprintf(human,
                    "done: validation accuracy %.2f%% after epoch %d, best %.2f%% (epoch %d)\n",
                    100 * result->final_val_accuracy, result->epoch, 100 * result->best_accuracy,
                    result->best_epoch);
        else
            fprintf(human, "done: validation loss %.6g (rmse %.6g) after epoch %d, best epoch %d\n",
                    result->final_val_loss, sqrt(result->final_val_loss), result->epoch,
                    result->best_epoch);
        print_run_files(run_dir, result);
        return 0;
    }
    print_run_files(run_dir, result);
    fflush(human);
    /* The run's checkpoint holds the options it was started with: the
     * model and the folder are all a resume needs. */
    char model[4200], folder[4200];
    fprintf(stderr, "%s at epoch %d step %lld; resume with: cnnrun train %s --resume %s\n",
            result->status == CR_TRAIN_INTERRUPTED ? cr_stop_signal_name(stop_requested)
                                                   : "stopped (--max-steps)",
            result->epoch, (long long)result->step, shell_word(a->path, model, sizeof model),
            shell_word(run_dir, folder, sizeof folder));
    return result->status == CR_TRAIN_INTERRUPTED ? 1 : 0;
}

/* "the run's options: --epochs=2 --data=..." (those it was started with) */
static void print_recorded(const char *recorded) {
    fprintf(human, "the run's options:");
    for (const char *line = recorded; *line;) {
        size_t length = strcspn(line, "\n");
        fprintf(human, " %.*s", (int)length, line);
        line += length + (line[length] == '\n');
    }
    fprintf(human, "\n");
}

/* One rank's part of `cnnrun train` (all of it without mpirun). Every
 * failure is agreed by all ranks (dist.h) before returning, so that rank 0
 * can print it and no rank waits for the others in vain. *failed: the
 * exit code is an error's (not a finished or interrupted run's). */
static int train_on_this_rank(int argc, char **argv, bool *failed) {
    *failed = true;
    human = stdout;
    train_args a = {.loader_threads = 1};
    bool given[CLI_MAX_OPTIONS] = {false};
    /* The parser reorders argv: a resume parses the typed line again. */
    char **typed = malloc((size_t)(argc + 1) * sizeof *typed);
    if (!typed) {
        fprintf(stderr, "cnnrun train: out of memory\n");
        return 1;
    }
    memcpy(typed, argv, (size_t)argc * sizeof *typed);
    int usage = parse_train_args(argc, argv, &a, given);
    if (a.json) human = stderr;
    cr_error err = {0};
    if (usage) cr_fail(&err, CR_ERR_USAGE, (cr_mark){0}, NULL, "invalid command line");
    if (cr_dist_agree(usage, &err)) {
        free(typed);
        return usage ? usage : report(&err);
    }
    /* A resume opens (and locks) its folder first: its checkpoint says
     * which options the run was started with, --data among them. */
    cr_run_folder folder = {.lock_fd = -1};
    char recorded[16384];
    int status = a.resume ? open_run_folder(&a, NULL, &folder, &err) ||
                                recorded_overrides(a.resume, recorded, sizeof recorded, &err)
                          : 0;
    bool resumed_with_options = !status && a.resume && recorded[0];
    if (resumed_with_options && !a.quiet) print_recorded(recorded);
    usage = resumed_with_options ? merge_recorded(recorded, argc, typed, &a, given) : 0;
    free(typed);
    if (usage) cr_fail(&err, CR_ERR_USAGE, (cr_mark){0}, NULL, "invalid recorded options");
    if (cr_dist_agree(status || usage, &err)) {
        cr_run_folder_close_unused(&folder);
        return usage ? usage : report(&err);
    }
    cr_model *model = NULL;
    cr_train_config config;
    if (cr_dist_agree(load_for_training(a.path, a.data, a.quiet, &model, &config, &err), &err)) {
        cr_run_folder_close_unused(&folder);
        cr_model_free(model);
        return report(&err);
    }
    apply_overrides(&a, &config);
    if (a.init && cr_dist_agree(cr_dist_rank() == 0 && show_init(&a, model, &err), &err)) {
        cr_model_free(model);
        return report(&err);
    }
    cr_set_threads(a.threads);
    if (cr_dist_agree(cr_check_threads(&err), &err) ||
        (!a.resume && open_run_folder(&a, model->name, &folder, &err))) {
        cr_run_folder_close_unused(&folder);
        cr_model_free(model);
        return report(&err);
    }
    const char *run_dir = folder.path;
    if (!a.quiet) print_plan(&a, model, &config, &folder);

    cr_dataset train, validation;
    status = cr_dist_agree(cr_train_load_data(model, &config, &train, &validation, &err), &err);
    cr_train_options options = {.run_dir = run_dir,
                                .resume = a.resume != NULL,
                                .init_weights = a.init,
                                .model_path = a.path,
                                .init_partial = a.init_partial,
                                .max_steps = a.max_steps,
                                .no_shuffle = a.no_shuffle,
                                .loader_threads = a.loader_threads,
                                .folder_open = true,
                                .stop = &stop_requested};
    mark_overrides(given, options.overridden);
    train_display display = {
        .terminal = isatty(fileno(human)) == 1, .quiet = a.quiet, .json = a.json};
    cr_train_result result;
    if (!status)
        status = train_until_stopped(model, &config, &train, &validation, &options, &display,
                                     &result, &err);
    *failed = status != 0;
    fflush(human);
    int code = status ? report(&err) : print_outcome(&a, &config, run_dir, &result);
    if (status)
        cr_run_folder_close_unused(&folder);
    else
        cr_run_folder_close(&folder);
    cr_dataset_free(&train);
    cr_dataset_free(&validation);
    cr_model_free(model);
    return code;
}

/* Under mpirun (docs/distributed.md) every rank runs the same command; only
 * rank 0 talks to the user: the others' output goes to /dev/null. */
int cmd_train(int argc, char **argv) {
    cr_error err = {0};
    if (cr_dist_init(&err)) return report(&err);
    if (cr_dist_rank() != 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            fflush(stdout);
            fflush(stderr);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    bool failed;
    int code = train_on_this_rank(argc, argv, &failed);
    cr_dist_finalize(failed);
    return code;
}

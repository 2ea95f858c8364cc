// classify.c in C++: the same steps, with the library's handles owned by
// std::unique_ptr and errors thrown as exceptions.
//
//   c++ classify.cpp $(pkg-config --cflags --libs cnnrun) -o classify
//   ./classify "$(pkg-config --variable=modelsdir cnnrun)/lenet5.yaml" [WEIGHTS.safetensors]
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include <cnnrun.h>

namespace {

struct ModelFree {
    void operator()(cr_model *model) const { cr_model_free(model); }
};
struct NetFree {
    void operator()(cr_net *net) const { cr_net_free(net); }
};
using Model = std::unique_ptr<cr_model, ModelFree>;
using Net = std::unique_ptr<cr_net, NetFree>;

struct Error : std::runtime_error {
    int exit_code;
    explicit Error(const cr_error &err)
        : std::runtime_error(format(err)), exit_code(cr_error_exit_code(&err)) {}
    static std::string format(const cr_error &err) {
        char message[2048];
        cr_error_format(&err, message, sizeof message);
        return message;
    }
};

Model load_model(const char *path) {
    cr_error err;
    cr_model *model;
    if (cr_model_load(path, &model, &err)) throw Error(err);
    return Model(model);
}

Net create_net(const cr_model *model) {
    cr_net_options options{};
    options.seed = 1; // evaluation only: no gradients planned
    cr_error err;
    cr_net *net;
    if (cr_net_create(model, 1, &options, &net, &err)) throw Error(err);
    return Net(net);
}

// [C, H, W]: 1 inside the middle half of the picture, 0 outside.
void fill_square(float *x, cr_shape shape) {
    for (int c = 0; c < shape.c; c++)
        for (int i = 0; i < shape.h; i++)
            for (int j = 0; j < shape.w; j++) {
                bool inside = 4 * i >= shape.h && 4 * i < 3 * shape.h && 4 * j >= shape.w &&
                              4 * j < 3 * shape.w;
                x[(static_cast<long>(c) * shape.h + i) * shape.w + j] = inside ? 1.0f : 0.0f;
            }
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: classify MODEL.yaml [WEIGHTS.safetensors]\n");
        return 2;
    }
    try {
        Model model = load_model(argv[1]);
        Net net = create_net(model.get());
        cr_error err;
        if (argc == 3 && cr_net_load_weights(net.get(), argv[2], &err)) throw Error(err);
        cr_shape in = cr_model_input_shape(model.get()), out = cr_model_output_shape(model.get());
        fill_square(cr_net_input(net.get()), in);
        cr_net_forward(net.get(), false);
        const float *y = cr_net_output(net.get());
        int outputs = out.c * out.h * out.w;
        std::printf("model %s: input %dx%dx%d, %d outputs\n", cr_model_name(model.get()), in.c,
                    in.h, in.w, outputs);
        for (int k = 0; k < outputs; k++) std::printf("class %d: %.6f\n", k, y[k]);
    } catch (const Error &e) {
        std::fprintf(stderr, "classify: %s\n", e.what());
        return e.exit_code;
    }
    return 0;
}

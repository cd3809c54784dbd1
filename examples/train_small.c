/* examples/train_small.c - train a small u-muP transformer through the public API.
 *   cc -std=c99 -O2 -fopenmp -I. examples/train_small.c -o train_small -lm
 * A 2-layer, width-64 byte-level decoder (umup_model_config_default) on the embedded corpus: 200
 * AdamW steps with u-muP's tested defaults (umup_optim_config_for: eta 2^-1 at every width, warmup
 * and cosine decay). Passes when the validation loss ends well below the unigram entropy, the best a
 * model that ignores context can do. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include <math.h>
#include <stdio.h>

enum { B = 8, T = 64, STEPS = 200 };

int main(void) {
    umup_model_config mc = umup_model_config_default();            /* u-muP: the reference decoder */
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, STEPS);
    umup_trainer *t;
    umup_dataset ds;
    int32_t ids[B * T], targets[B * T];
    float loss = 0.0f, val = 0.0f, l;
    long s;
    if (umup_dataset_from_corpus(&ds, 400000, 1, 0.1) != UMUP_OK || umup_trainer_create(&t, &mc, &oc, B) != UMUP_OK) return 1;
    for (s = 0; s < STEPS; s++) {                                   /* batch s is a pure function of (seed 1, s) */
        umup_dataset_batch(&ds, 0, 1, s, B, T, ids, targets);
        if (umup_trainer_step(t, ids, targets, B, T, &loss) != UMUP_OK) return 1;
        if (s % 50 == 0) printf("step %3ld  train loss %.3f nats/byte\n", s, loss);
    }
    for (s = 0; s < 8; s++) {                                       /* 8 fixed validation batches */
        umup_dataset_batch(&ds, 1, 1, s, B, T, ids, targets);
        umup_trainer_eval(t, ids, targets, B, T, &l);
        val += l / 8;
    }
    l = (float)(umup_dataset_unigram_entropy(&ds) * log(2.0));      /* bits -> nats */
    printf("validation loss %.3f nats/byte; unigram entropy %.3f\ntrain_small: %s\n", val, l, val < l - 0.5f ? "ok" : "FAILED");
    umup_trainer_destroy(t);
    umup_dataset_free(&ds);
    return val < l - 0.5f ? 0 : 1;
}

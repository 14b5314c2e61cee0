#include "gbfarm/policy_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/safetensors.h"

gb_error *policy_load(policy **out, env_spec spec, int hidden, const char *path)
{
    *out = NULL;
    safetensors *f;
    GB_TRY(safetensors_read(&f, path));
    if (!safetensors_checked(f))
        gb_warnf("%s has no checksums (written by an older gbfarm?): loading it unchecked", path);
    policy_config cfg = policy_config_default(spec);
    const char *trunk = safetensors_meta(f, "shared_trunk");
    if (trunk) cfg.shared_trunk = !strcmp(trunk, "1");
    /* The architecture the checkpoint records; an explicit --hidden wins. */
    const char *cnn = safetensors_meta(f, "cnn"), *width = safetensors_meta(f, "hidden");
    if (cnn && !strcmp(cnn, "small")) cfg.cnn = POLICY_CNN_SMALL;
    if (width && atoi(width) > 0) cfg.hidden = atoi(width);
    if (hidden > 0) cfg.hidden = hidden;
    /* Variables beside the screens: the checkpoint's count must be the env's. */
    const char *vars = safetensors_meta(f, "obs_vars");
    int trained_vars = vars ? atoi(vars) : 0;
    if (trained_vars != spec.obs_vars) {
        safetensors_free(f);
        return gb_errorf("%s: trained on %d variables beside the screen, this env observes %d "
                         "(see --obs and observation.vars)",
                         path, trained_vars, spec.obs_vars);
    }
    /* The observation's shape, channels x height x width (older checkpoints do not
     * record it): a window of another size can give the same layer shapes. */
    const char *obs = safetensors_meta(f, "obs");
    int c, h, w;
    if (obs && sscanf(obs, "%dx%dx%d", &c, &h, &w) == 3 &&
        (c != spec.obs_c || h != spec.obs_h || w != spec.obs_w)) {
        safetensors_free(f);
        return gb_errorf("%s: trained on observations of %dx%dx%d, this env's are %dx%dx%d (did "
                         "its folder's \"observation\" change since?)",
                         path, c, h, w, spec.obs_c, spec.obs_h, spec.obs_w);
    }
    /* The actor head has a row per action, whatever the width. */
    int64_t trained_actions = safetensors_dim(f, "actor_head.bias", 0);
    if (trained_actions >= 0 && trained_actions != spec.n_actions) {
        safetensors_free(f);
        return gb_errorf("%s: trained with %lld actions, this game has %d (did its folder's "
                         "\"actions\" change since?)",
                         path, (long long)trained_actions, spec.n_actions);
    }
    policy *p;
    gb_error *err = policy_create(&p, &cfg, 0);
    if (err) {
        safetensors_free(f);
        return err;
    }
    for (int i = 0; !err && i < p->n_tensors; i++) {
        const policy_tensor *t = &p->tensors[i];
        err = safetensors_get(f, t->name, ST_F32, t->ndim, t->shape, p->params + t->offset);
    }
    safetensors_free(f);
    if (err) {
        policy_free(p);
        return gb_error_wrap(err,
                             "checkpoint: not this game's network (%s trunk, width %d; "
                             "trained on another game, or with --hidden N? pass the same "
                             "--hidden)",
                             cfg.shared_trunk ? "shared" : "separate", cfg.hidden);
    }
    *out = p;
    return NULL;
}
